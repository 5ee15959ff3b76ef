/**
 * Copying one object from a layer into a writable layer: copy-up and the layer tools (commit,
 * squash, apply) build their copies the same way. Times are left to the caller: a directory's
 * must wait until nothing more is written into it.
 */
import { constants } from 'node:fs';
import type { ReadableLayer, Stat, WritableLayer } from './layer.js';

const { S_IFDIR, S_IFREG, S_IFLNK, S_IFMT } = constants;

/** Creates at `to` an object like `rel`: an empty directory, a file with its data, a link, a node. */
export async function cloneObject(
  dest: WritableLayer,
  source: ReadableLayer,
  rel: string,
  stat: Stat,
  to: string,
): Promise<void> {
  switch (Number(stat.mode) & S_IFMT) {
    case S_IFDIR:
      return dest.mkdir(to, 0o700);
    case S_IFREG:
      return dest.copyFrom(source, rel, to);
    case S_IFLNK:
      return dest.symlink(await source.readlink(rel), to);
    default:
      return dest.mknod(to, Number(stat.mode), Number(stat.rdev));
  }
}

/**
 * Gives `to` the owner (when `chown`), the xattrs `keep` accepts, and the mode of `rel`. The owner
 * comes first because chown(2) clears security.capability and the set-id bits.
 */
export async function cloneAttributes(
  dest: WritableLayer,
  source: ReadableLayer,
  rel: string,
  stat: Stat,
  to: string,
  options: { keep: (xattr: string) => boolean; chown: boolean },
): Promise<void> {
  if (options.chown) await dest.chown(to, { uid: Number(stat.uid), gid: Number(stat.gid) });
  for (const name of source.listxattr(rel).filter(options.keep)) {
    const value = source.getxattr(rel, name);
    if (value !== undefined) dest.setxattr(to, name, value);
  }
  // Symlinks have no mode of their own.
  if ((Number(stat.mode) & S_IFMT) !== S_IFLNK) await dest.chmod(to, Number(stat.mode) & 0o7777);
}
