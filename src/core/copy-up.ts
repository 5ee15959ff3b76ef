/**
 * Copy-up (fs/overlayfs/copy_up.c): before a lower object is changed, a copy is built in the work
 * directory (data, then owner, then xattrs, then mode and times: writing data and chown(2) both
 * drop security.capability) and renamed into the upper in one step. Parents are copied up first.
 * Callers hold the overlay's mutation lock, so one object is never copied up twice at once.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import type { ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';
import { cloneAttributes, cloneObject } from '../layers/clone.js';
import { timespec, RENAME_NOREPLACE } from '../layers/native.js';
import { type Entry, isDir, top, typeOf, upperOf } from './entry.js';
import type { OverlayFormat } from './format.js';
import type { InodeNumbers } from './inodes.js';
import type { Lookup } from './lookup.js';
import { parentOf } from './paths.js';
import type { WorkDir } from './workdir.js';

const { S_IFDIR, S_IFREG } = fsConstants;

export interface CopyUpEvent {
  path: string;
  layer: number;
  /** The root directory of the layer copied from (for traces). */
  from: string;
  bytes: number;
  ms: number;
}

export class CopyUp {
  onCopyUp?: (event: CopyUpEvent) => void;
  /** The directories each copy-up changed (Overlay.onDirectoriesChanged). */
  onDirectoriesChanged?: (paths: string[]) => void;

  constructor(
    private readonly upper: WritableLayer,
    private readonly work: WorkDir,
    private readonly format: OverlayFormat,
    private readonly lookup: Lookup,
    private readonly inodes: InodeNumbers,
    /** Root may give copies their original owner and trusted/security xattrs; rootless not. */
    private readonly privileged = true,
  ) {}

  /** Makes sure `entry` lives in the upper; returns the updated entry. */
  async ensure(entry: Entry, options: { truncate?: boolean } = {}): Promise<Entry> {
    if (upperOf(entry, this.upper) !== undefined) return entry;
    const parent = await this.lookup.find(parentOf(entry.path));
    if (parent === undefined) throw new Error(`copy-up: parent of ${entry.path} vanished`);
    await this.ensure(parent);
    return this.copy(entry, options.truncate ?? false);
  }

  private async copy(entry: Entry, truncate: boolean): Promise<Entry> {
    const started = performance.now();
    const source = top(entry);
    const stat = await source.layer.lstat(source.rel);
    if (stat === undefined) throw new Error(`copy-up: ${entry.path} vanished from its layer`);
    const parent = parentOf(entry.path);
    const parentStat = await this.upper.lstat(parent);
    const tmp = this.work.tempName();
    try {
      await this.build(source.layer, source.rel, stat, tmp, truncate);
      const hasOrigin = this.recordOrigin(source.layer, source.rel, tmp);
      await this.copyAttributes(source.layer, source.rel, stat, tmp);
      if (hasOrigin) this.format.markImpure(this.upper, parent);
      this.upper.rename(tmp, entry.path, RENAME_NOREPLACE, this.work.layer);
    } catch (err) {
      await removeQuietly(this.work.layer, tmp, typeOf(stat));
      throw err;
    }
    // The parent's times stay as they were (kernel ovl_copy_up_one: "best effort").
    if (parentStat !== undefined) this.restoreTimes(parent, parentStat);
    this.onDirectoriesChanged?.(isDir(entry) ? [parent, entry.path] : [parent]);
    const copied = await this.upper.lstat(entry.path);
    if (copied !== undefined) this.inodes.rememberCopyUp(copied, entry.ino);
    const updated: Entry = {
      ...entry,
      stack: [{ layer: this.upper, rel: entry.path }, ...(isDir(entry) ? entry.stack : [])],
    };
    this.lookup.set(entry.path, updated);
    const bytes = typeOf(stat) === S_IFREG && !truncate ? Number(stat.size) : 0;
    this.onCopyUp?.({
      path: entry.path,
      layer: source.layer.index,
      from: source.layer.root,
      bytes,
      ms: performance.now() - started,
    });
    return updated;
  }

  private async build(
    layer: ReadableLayer,
    rel: string,
    stat: Stat,
    tmp: string,
    truncate: boolean,
  ): Promise<void> {
    const work = this.work.layer;
    if (truncate && typeOf(stat) === S_IFREG) {
      return fsp.writeFile(work.absolute(tmp), '', { flag: 'wx', mode: 0o600 });
    }
    return cloneObject(work, layer, rel, stat, tmp);
  }

  /** Where the copy came from, so its inode number survives remounts (kernel ovl_set_origin).
   * False when the layer gives no file handle. */
  private recordOrigin(layer: ReadableLayer, rel: string, tmp: string): boolean {
    const handle = layer.handle(rel);
    if (handle !== undefined) this.format.setOrigin(this.work.layer, tmp, handle);
    return handle !== undefined;
  }

  private restoreTimes(rel: string, stat: Stat): void {
    try {
      this.upper.utimens(rel, timespec(stat.atimeNs), timespec(stat.mtimeNs));
    } catch {
      // Best effort, as in the kernel: the copy-up itself is done.
    }
  }

  private async copyAttributes(
    layer: ReadableLayer,
    rel: string,
    stat: Stat,
    tmp: string,
  ): Promise<void> {
    // Rootless, copies keep the daemon's owner and only user.* xattrs can be set.
    await cloneAttributes(this.work.layer, layer, rel, stat, tmp, {
      chown: this.privileged,
      keep: (name) =>
        !this.format.isPrivateXattr(name) && (this.privileged || name.startsWith('user.')),
    });
    this.work.layer.utimens(tmp, timespec(stat.atimeNs), timespec(stat.mtimeNs));
  }
}

/** Removes a half-built object; the original error is what the caller needs to see. */
async function removeQuietly(layer: WritableLayer, rel: string, type: number): Promise<void> {
  try {
    await (type === S_IFDIR ? layer.rmdir(rel) : layer.unlink(rel));
  } catch {
    // Nothing was built, or it is gone already; leftovers are cleaned at the next mount.
  }
}
