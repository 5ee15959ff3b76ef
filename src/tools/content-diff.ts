/**
 * Unified diffs of the text files a container layer added or changed, by diff(1) (GNU diffutils):
 * a binary file (a NUL byte in its first 8 KiB) is named, not shown.
 */
import { execFile } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import type { Entry } from '../core/entry.js';
import { UnionmountError } from '../errors.js';
import type { Change } from './diff.js';
import { openStack } from './stack.js';

const SNIFF = 8192;

export async function contentDiff(
  lowers: readonly string[],
  upper: string,
  changes: readonly Change[],
): Promise<string> {
  const before = openStack(lowers);
  const after = openStack(lowers, upper);
  let text = '';
  for (const change of changes) {
    if (change.kind === 'D') continue;
    const rel = Buffer.from(change.path.slice(1)).toString('latin1');
    const now = (await after.merged.lookup.find(rel))!;
    const old = change.kind === 'C' ? await before.merged.lookup.find(rel) : undefined;
    if (!(await isFile(now)) || (old !== undefined && !(await isFile(old)))) continue;
    const newFile = fileOf(now);
    const oldFile = old === undefined ? '/dev/null' : fileOf(old);
    if (isBinary(newFile) || isBinary(oldFile)) {
      text += `Binary file ${change.path} differs\n`;
      continue;
    }
    text += await unified(oldFile, newFile, change.path);
  }
  return text;
}

/** The path on disk of a merged entry's top object. */
function fileOf(entry: Entry): string {
  const { layer, rel } = entry.stack[0]!;
  return layer.absolute(rel).toString('latin1');
}

async function isFile(entry: Entry): Promise<boolean> {
  const { layer, rel } = entry.stack[0]!;
  return (await layer.lstat(rel))?.isFile() ?? false;
}

function isBinary(path: string): boolean {
  const fd = openSync(Buffer.from(path, 'latin1'), 'r');
  try {
    const buffer = Buffer.alloc(SNIFF);
    return buffer.subarray(0, readSync(fd, buffer, 0, SNIFF, 0)).includes(0);
  } finally {
    closeSync(fd);
  }
}

async function unified(oldFile: string, newFile: string, path: string): Promise<string> {
  const labels = [
    '--label',
    oldFile === '/dev/null' ? '/dev/null' : `a${path}`,
    '--label',
    `b${path}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'diff',
      ['-u', ...labels, oldFile, newFile],
      { encoding: 'buffer', maxBuffer: 1 << 28 },
      (err, stdout) => {
        // diff exits 1 when the files differ: that is its answer, not a failure.
        if (err && err.code !== 1) {
          reject(
            new UnionmountError(
              `diff ${path}: ${err.code === 'ENOENT' ? 'diff(1) is not installed (diffutils)' : err.message}`,
            ),
          );
          return;
        }
        resolve(stdout.toString());
      },
    );
  });
}
