/**
 * `discard`: empties the container layer and its work directory, leaving both directories in
 * place and the lowers untouched. Refused while a mount writes to the upper. Entries are removed
 * without following symlinks, so nothing outside the two directories is touched.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UnionmountError } from '../errors.js';
import { refuseIfMounted } from './live.js';

export interface Discarded {
  /** Objects removed from the upper (whiteouts and directories count). */
  objects: number;
  /** Bytes of regular files removed from the upper. */
  bytes: number;
}

/** The work directory unionmount uses when none is given (see config.ts). */
export const defaultWork = (upper: string): string =>
  join(dirname(upper), `${basename(upper)}.work`);

export async function discard(upper: string, work = defaultWork(upper)): Promise<Discarded> {
  if (upper === '/') throw new UnionmountError('upper layer /: refusing to empty the root', 2);
  refuseIfMounted(upper, 'discarding it');
  const counted = await count(upper);
  await empty(upper);
  if (existsSync(work)) await empty(work);
  return counted;
}

async function empty(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir))
    await fsp.rm(join(dir, name), { recursive: true, force: true });
}

async function count(dir: string): Promise<Discarded> {
  const total: Discarded = { objects: 0, bytes: 0 };
  for (const entry of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    total.objects++;
    if (entry.isFile()) total.bytes += (await fsp.lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}
