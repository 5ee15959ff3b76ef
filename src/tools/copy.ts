/**
 * Writing a new layer directory: objects are copied with their data, xattrs, owner, mode and
 * times (directory times last, once nothing more is written into them), hard links stay links,
 * and the result appears at its final name in one rename, so a failure leaves nothing behind.
 */
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isWithin } from '../core/paths.js';
import { UnionmountError } from '../errors.js';
import type { ReadableLayer, Stat } from '../layers/layer.js';
import { cloneAttributes, cloneObject } from '../layers/clone.js';
import { timespec } from '../layers/native.js';
import { WritableDiskLayer } from '../layers/disk.js';

export type Progress = (done: number, total: number) => void;

export class TreeWriter {
  private readonly links = new Map<string, string>();
  private readonly dirs: [string, Stat][] = [];

  constructor(
    readonly dest: WritableDiskLayer,
    /** Which xattrs the new layer keeps. */
    private readonly keepXattr: (name: string) => boolean,
  ) {}

  /** Copies `layer`'s object at `rel` to `to` ('' is the root, which exists already). */
  async copy(layer: ReadableLayer, rel: string, to: string): Promise<void> {
    const stat = await layer.lstat(rel);
    if (stat === undefined) throw new Error(`${layer.root}: ${rel} vanished while copying`);
    const key = `${stat.dev}:${stat.ino}`;
    const linked = stat.nlink > 1n && !stat.isDirectory() ? this.links.get(key) : undefined;
    if (linked !== undefined) return this.dest.link(linked, to);
    if (to !== '') await cloneObject(this.dest, layer, rel, stat, to);
    if (stat.nlink > 1n && !stat.isDirectory()) this.links.set(key, to);
    await this.attributes(layer, rel, stat, to);
  }

  /** Gives `to` the owner, xattrs, mode and (but a directory's) times of `layer`'s `rel`. */
  async attributes(layer: ReadableLayer, rel: string, stat: Stat, to: string): Promise<void> {
    await cloneAttributes(this.dest, layer, rel, stat, to, { keep: this.keepXattr, chown: true });
    if (stat.isDirectory()) this.dirs.push([to, stat]);
    else this.dest.utimens(to, timespec(stat.atimeNs), timespec(stat.mtimeNs));
  }

  /** Sets directory times, deepest first: writing into a directory changes its mtime. */
  finish(): void {
    for (const [rel, stat] of this.dirs.reverse())
      this.dest.utimens(rel, timespec(stat.atimeNs), timespec(stat.mtimeNs));
  }
}

/**
 * Builds a new directory at `dest` through `build`, in a hidden sibling renamed into place at the
 * end. `dest` must not exist, or be an empty directory.
 */
export async function buildDirectory(
  dest: string,
  role: string,
  sources: readonly ReadableLayer[],
  build: (staging: string) => Promise<void>,
): Promise<void> {
  const target = resolve(dest);
  for (const { root } of sources) {
    if (
      isWithin(target.slice(1), resolve(root).slice(1)) ||
      isWithin(resolve(root).slice(1), target.slice(1))
    )
      throw new UnionmountError(`${role} ${dest}: overlaps the layer ${root}`, 2);
  }
  if (existsSync(dest) && readdirSync(dest).length > 0)
    throw new UnionmountError(`${role} ${dest}: exists and is not empty`, 2);
  if (!existsSync(dirname(dest)))
    throw new UnionmountError(`${role} ${dest}: no such parent directory`, 2);
  const staging = await fsp.mkdtemp(join(dirname(dest), `.${basename(dest)}.partial-`));
  try {
    await build(staging);
    if (existsSync(dest)) await fsp.rmdir(dest);
    await fsp.rename(staging, dest);
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  }
}
