/**
 * Copying a file's data for copy-up. A dense file goes through fs.copyFile (copy_file_range or a
 * reflink in the kernel); a sparse one is copied extent by extent, so its holes stay holes.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import type { Stat } from './layer.js';
import { nextData } from './native.js';

const CHUNK = 1 << 20;

export async function copyData(from: Buffer, to: Buffer, stat: Stat): Promise<void> {
  const sparse = stat.blocks * 512n < stat.size;
  if (!sparse) {
    return fsp.copyFile(from, to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  }
  const source = await fsp.open(from, 'r');
  try {
    const target = await fsp.open(to, 'wx', 0o600);
    try {
      await copyExtents(source, target);
      await target.truncate(Number(stat.size));
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function copyExtents(source: fsp.FileHandle, target: fsp.FileHandle): Promise<void> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let extent = nextData(source.fd, 0);
  while (extent !== undefined) {
    const [start, end] = extent;
    for (let at = start; at < end;) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(CHUNK, end - at), at);
      if (bytesRead === 0) break;
      await target.write(buffer, 0, bytesRead, at);
      at += bytesRead;
    }
    extent = nextData(source.fd, end);
  }
}
