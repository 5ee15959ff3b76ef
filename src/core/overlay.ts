/**
 * The overlay: the union of one optional upper layer over lower layers, with kernel overlayfs
 * semantics (see ../shared/reference/overlay-semantics.md and native-notes/semantics.md). Methods
 * are named after the syscalls they serve. Nothing here knows FUSE: errors are thrown as FsError
 * (or Node's own fs errors, which carry the same codes) and the adapter turns them into -errno.
 *
 * Concurrency: reads run freely; everything that changes the upper (namespace changes, copy-ups,
 * attribute changes) runs under one mutex, so the lookup cache and the upper never disagree.
 */
import { constants as fsConstants, fstatSync, promises as fsp } from 'node:fs';
import type { DirEntry, ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';
import { O_ACCMODE, RENAME_EXCHANGE, RENAME_WHITEOUT, type Timespec } from '../layers/native.js';
import { CopyUp, type CopyUpEvent } from './copy-up.js';
import { type Entry, hasLower, hasOtherNames, isDir, top, typeOf, upperOf } from './entry.js';
import { FsError, fsError } from './errors.js';
import type { OverlayFormat } from './format.js';
import { InodeNumbers } from './inodes.js';
import { Mutex } from './lock.js';
import { Listings } from './listings.js';
import { Lookup } from './lookup.js';
import { OpenFiles } from './open-files.js';
import { isWithin, join, nameOf, parentOf } from './paths.js';
import type { WorkDir } from './workdir.js';

const { O_RDONLY, O_TRUNC, O_CREAT, O_EXCL, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = fsConstants;
const X_OK = 1;
const MAX_MISSING_XATTRS = 10_000;
const S_ISGID = 0o2000;

/** Who asks: new objects are owned by the caller, as on a plain filesystem. */
export interface Caller {
  uid: number;
  gid: number;
}

/** Attributes of a merged object: the real stat of its top object plus what the overlay shows. */
export interface Attributes {
  stat: Stat;
  ino: number;
  nlink: number;
  /**
   * The attributes can change without an operation on this name, so a cache keyed by the name
   * (the kernel's) must not keep them: another name of a hard link. (A copy-up's changes to
   * directories are announced instead: `onDirectoriesChanged`.)
   */
  volatile: boolean;
  /** Set by `attributesAhead` and `lendable`: the real path (bytes) of a lower file that `open`
   * would open read-only and lend (`files.lendsReads`), so a caller may open it the same way. */
  lower?: string;
  /** Only a change through the mount can move these attributes: a directory with no upper,
   * which the layers list with O_NOATIME (`files.lendsReads`). A listing leaves them alone. */
  settled?: boolean;
}

/** Union events, for traces and lessons. */
export type UnionEvent =
  | ({ type: 'copy-up' } & CopyUpEvent)
  | { type: 'whiteout' | 'opaque' | 'create' | 'delete'; path: string }
  | { type: 'redirect'; path: string; target: string };

export interface OverlayLayers {
  /** Lower layers, top first. Their `index` is their position in the whole stack. */
  lowers: readonly ReadableLayer[];
  /** The writable layer and its work directory; absent for a read-only union. */
  upper?: { layer: WritableLayer; work: WorkDir };
  format: OverlayFormat;
  /**
   * The kernel's redirect_dir: 'on' renames directories with lower content by a redirect xattr,
   * 'follow' and 'off' only read redirects (such renames answer EXDEV), 'nofollow' ignores them.
   * Default 'on'.
   */
  redirectDir?: RedirectDir;
  /**
   * Whether the daemon runs as root: it then gives new and copied-up objects their owners.
   * Rootless, every object belongs to the daemon's user (the one user who can use the mount).
   */
  privileged?: boolean;
  /** The kernel's volatile: fsync is skipped (the caller marks the upper not to be reused). */
  volatile?: boolean;
}

export type RedirectDir = 'on' | 'follow' | 'nofollow' | 'off';

/** The merged view over the layers, with syscall-named async methods; no FUSE involved. */
/** A name whose lookup the kernel refuses (an invalid redirect) is left out of listings. */
function skipInvalid(err: unknown): undefined {
  if (err instanceof FsError && err.code === 'EINVAL') return undefined;
  throw err;
}

export class Overlay {
  readonly lookup: Lookup;
  /** Open files: I/O on a handle goes straight to its real fd. */
  readonly files = new OpenFiles(() => this.lookup.stats);
  readonly inodes = new InodeNumbers();
  onEvent?: (event: UnionEvent) => void;
  /**
   * Directories whose attributes a copy-up changed, with no request on them: each one it created
   * in the upper (ctime; a merged directory's link count) and the one it renamed a copy into
   * (ctime). Called before the request that copied up is answered, so a cache of attributes (the
   * kernel's) can drop them.
   */
  onDirectoriesChanged?: (paths: string[]) => void;

  private readonly upper: WritableLayer | undefined;
  private readonly work: WorkDir | undefined;
  private readonly format: OverlayFormat;
  private readonly copyUps: CopyUp | undefined;
  private readonly mutex = new Mutex();
  private readonly createRedirects: boolean;
  private readonly redirectDir: RedirectDir;
  private readonly listings = new Listings();
  /**
   * `path\0name` of xattrs known to be absent: the kernel asks for security.capability before
   * every write, and ls for ACLs and labels of every name. Only changes under the mutex can add an
   * xattr (a write only ever removes security.capability), and each one clears this set.
   */
  private readonly missingXattrs = new Set<string>();
  private privileged = true;

  constructor(layers: OverlayLayers) {
    this.upper = layers.upper?.layer;
    this.work = layers.upper?.work;
    this.format = layers.format;
    this.files.ignoreSync = layers.volatile ?? false;
    const stack = this.upper ? [this.upper, ...layers.lowers] : [...layers.lowers];
    const redirectDir = (this.redirectDir = layers.redirectDir ?? 'on');
    this.createRedirects = redirectDir === 'on';
    this.lookup = new Lookup(
      stack,
      this.upper,
      this.format,
      this.inodes,
      redirectDir !== 'nofollow',
    );
    if (this.upper && this.work) {
      this.privileged = layers.privileged ?? true;
      this.copyUps = new CopyUp(
        this.upper,
        this.work,
        this.format,
        this.lookup,
        this.inodes,
        this.privileged,
      );
      this.copyUps.onCopyUp = (e) => this.emit({ type: 'copy-up', ...e });
      this.copyUps.onDirectoriesChanged = (paths) => this.onDirectoriesChanged?.(paths);
    }
  }

  /** The policies in force, as `unionmount inspect --mount` shows them. */
  settings(): Record<string, string> {
    return {
      format: `${this.format.xattrPrefix}* xattrs, 0/0 character-device whiteouts`,
      redirect_dir: this.redirectDir,
      owners: this.privileged
        ? 'callers own what they create'
        : 'rootless: the daemon user owns all',
      inodes: this.inodes.policy(),
    };
  }

  // ---- reads --------------------------------------------------------------------------------

  async getattr(path: string): Promise<Attributes> {
    return this.attributesOf(await this.entry(path));
  }

  /**
   * access(2), asked only when the kernel does not check permissions itself: a root-only mount,
   * whose caller passes every check but executing a file that has no execute bit at all.
   */
  async access(path: string, mode: number): Promise<void> {
    const { stat } = await this.getattr(path);
    const type = Number(stat.mode) & S_IFMT;
    if (mode & X_OK && type !== S_IFDIR && (Number(stat.mode) & 0o111) === 0) {
      throw fsError('EACCES');
    }
  }

  async readlink(path: string): Promise<string> {
    const entry = await this.entry(path);
    if (entry.type !== S_IFLNK) throw fsError('EINVAL');
    const { layer, rel } = top(entry);
    return this.touched(await layer.readlink(rel)); // atime
  }

  /** The merged listing: each name once, from the top-most layer, whiteouts and what they hide left out. */
  async readdir(path: string): Promise<Entry[]> {
    const cached = this.lookup.caching ? this.listings.get(path, this.lookup.version) : undefined;
    if (cached !== undefined) return cached;
    const version = this.lookup.version;
    const entries = await this.merge(path);
    if (this.lookup.caching && version === this.lookup.version)
      this.listings.set(path, version, entries);
    return entries;
  }

  /**
   * The attributes of the files listed after the file `path` in its directory, if that listing
   * is kept: a walk (find, ls -l, rm -r, tar) or the binding's READDIRPLUS asks for each of them
   * next, and the binding answers those from this batch without a round trip. Nothing is listed
   * or looked up for it; directories, and attributes the kernel must not keep (`volatile`), are
   * left for the kernel to ask.
   */
  async attributesAhead(path: string, max: number): Promise<Map<string, Attributes>> {
    const ahead = new Map<string, Attributes>();
    if (path === '' || !this.lookup.caching) return ahead;
    const listing = this.listings.get(parentOf(path), this.lookup.version) ?? [];
    const at = listing.findIndex((entry) => entry.path === path);
    // Asked for a directory: the files after it were sent with the file before it, if any.
    if (at < 0 || isDir(listing[at]!)) return ahead;
    const files = listing.slice(at + 1, at + 1 + max).filter((e) => !isDir(e));
    const stats = await this.statAll(files);
    files.forEach((entry, i) => {
      const stat = stats[i];
      const attributes = stat && this.attributesFrom(entry, stat);
      if (attributes && !attributes.volatile)
        ahead.set(nameOf(entry.path), { ...attributes, lower: this.lowerToLend(entry) });
    });
    return ahead;
  }

  /** The top objects' stats, one layer call per layer and directory (a listing's files). */
  private async statAll(entries: Entry[]): Promise<(Stat | undefined)[]> {
    const groups = new Map<ReadableLayer, Map<string, number[]>>();
    entries.forEach((entry, i) => {
      const { layer, rel } = top(entry);
      const byDir = groups.get(layer) ?? groups.set(layer, new Map()).get(layer)!;
      const dir = parentOf(rel);
      (byDir.get(dir) ?? byDir.set(dir, []).get(dir)!).push(i);
    });
    const stats: (Stat | undefined)[] = [];
    for (const [layer, byDir] of groups) {
      for (const [dir, at] of byDir) {
        const names = at.map((i) => nameOf(top(entries[i]!).rel));
        (await layer.lstatAll(dir, names)).forEach((stat, j) => (stats[at[j]!] = stat));
      }
    }
    return stats;
  }

  /** The real path of `path` if it is a lower file that `open` would lend (see Attributes.lower). */
  async lendable(path: string): Promise<string | undefined> {
    return this.files.lendingNow() ? this.lowerToLend(await this.entry(path)) : undefined;
  }

  private lowerToLend(entry: Entry): string | undefined {
    if (!this.files.lendingNow() || entry.type !== S_IFREG) return undefined;
    const { layer, rel } = top(entry);
    return layer === this.upper ? undefined : layer.absolute(rel).toString('latin1');
  }

  private async merge(path: string): Promise<Entry[]> {
    const dir = await this.entry(path);
    if (!isDir(dir)) throw fsError('ENOTDIR');
    const listed = new Map<ReadableLayer, Map<string, DirEntry>>();
    for (const { layer, rel } of dir.stack) {
      listed.set(layer, new Map((await layer.readdir(rel)).map((e) => [e.name, e])));
    }
    const names = mergedOrder(dir, listed, this.upper);
    this.lookup.stats.changed(); // the directories' atime
    const upperDir = this.upper && upperOf(dir, this.upper);
    const pureUpper =
      upperDir !== undefined &&
      !this.format.isImpure(this.upper!, upperDir) &&
      !this.format.holdsXWhiteouts(this.upper!, upperDir);
    // Each name resolves as a lookup would: whiteouts and the names they hide come back empty.
    const entries = await Promise.all(
      [...names].map((name) =>
        this.lookup.listedEntry(dir, name, listed, pureUpper).catch(skipInvalid),
      ),
    );
    return entries.filter((entry): entry is Entry => entry !== undefined);
  }

  async attributesOf(entry: Entry): Promise<Attributes> {
    const stat = this.lookup.stats.get(entry.path) ?? (await this.readStat(entry));
    if (stat === undefined) throw fsError('ENOENT', entry.path);
    return this.attributesFrom(entry, stat);
  }

  private attributesFrom(entry: Entry, stat: Stat): Attributes {
    // A merged directory reports one link, as the kernel does: its real count means nothing here.
    const nlink = isDir(entry) && entry.stack.length > 1 ? 1 : Number(stat.nlink);
    // A directory's changes by copy-up are announced (onDirectoriesChanged); another name's are not.
    const volatile = !isDir(entry) && hasOtherNames(entry.type, nlink);
    const settled =
      isDir(entry) &&
      this.files.lendsReads &&
      (this.upper === undefined || upperOf(entry, this.upper) === undefined);
    return { stat, ino: entry.ino, nlink, volatile, settled };
  }

  /** The top object's stat, kept for the next getattr (with default_permissions, every path
   * walk asks for the attributes of each directory it passes). */
  private async readStat(entry: Entry): Promise<Stat | undefined> {
    const { layer, rel } = top(entry);
    const generation = this.lookup.stats.begin();
    const stat = await layer.lstat(rel);
    if (stat !== undefined) this.lookup.stats.remember(entry.path, stat, generation);
    return stat;
  }

  async getxattr(path: string, name: string, caller: Caller): Promise<Buffer> {
    if (!this.xattrVisible(name, caller)) throw fsError('ENODATA');
    const key = `${path}\0${name}`;
    if (this.missingXattrs.has(key)) throw fsError('ENODATA');
    const { layer, rel } = top(await this.entry(path));
    const value = layer.getxattr(rel, this.format.escapeXattr(name));
    if (value === undefined) {
      // Read and kept synchronously: no change can slip in between.
      if (this.lookup.stats.enabled && this.missingXattrs.size < MAX_MISSING_XATTRS)
        this.missingXattrs.add(key);
      throw fsError('ENODATA');
    }
    return value;
  }

  async listxattr(path: string, caller: Caller): Promise<string[]> {
    const { layer, rel } = top(await this.entry(path));
    return layer
      .listxattr(rel)
      .map((name) => this.format.unescapeXattr(name))
      .filter((name): name is string => name !== undefined && this.xattrVisible(name, caller));
  }

  /**
   * trusted.* needs CAP_SYS_ADMIN: the daemon has it, so it checks for the caller. Names are as
   * given through the mount: the overlay's own are out of reach (see OverlayFormat.escapeXattr).
   */
  private xattrVisible(name: string, caller: Caller): boolean {
    if (this.format.isFormatRecord(name)) return false;
    return caller.uid === 0 || !name.startsWith('trusted.');
  }

  async statfs(): Promise<import('node:fs').BigIntStatsFs> {
    const root = this.upper ?? (await this.entry('')).stack[0]!.layer;
    return fsp.statfs(root.absolute(''), { bigint: true });
  }

  // ---- open files ---------------------------------------------------------------------------

  /** Opens for I/O; a lower file opened for writing is copied up first, read-only never is. */
  async open(path: string, flags: number): Promise<number> {
    let entry = await this.entry(path);
    const writing = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
    if (writing && upperOf(entry, this.upper) === undefined) {
      // Looked up again under the lock: a concurrent open may have copied it up meanwhile.
      const truncate = (flags & O_TRUNC) !== 0;
      entry = await this.locked(async () => this.copyUp(await this.entry(path), truncate));
    }
    const { layer, rel } = top(entry);
    const fd = await layer.open(rel, flags & ~(O_CREAT | O_EXCL));
    return this.files.track(this.touched(fd), entry.ino, layer === this.upper, !writing); // O_TRUNC
  }

  // ---- namespace changes ----------------------------------------------------------------------

  async create(path: string, flags: number, mode: number, caller: Caller): Promise<number> {
    const fh = await this.locked(async () => {
      if ((await this.lookup.find(path)) !== undefined) {
        if (flags & O_EXCL) throw fsError('EEXIST');
        return undefined; // an existing file is opened like any other, below
      }
      let fd = -1;
      const create = async (layer: WritableLayer, rel: string) => {
        fd = await layer.create(rel, (flags & ~O_TRUNC) | O_EXCL, mode & 0o7777);
      };
      await this.place(path, caller, S_IFREG, create, true);
      return this.files.track(fd, this.created(path, fd).ino, true);
    });
    return fh ?? this.open(path, flags);
  }

  async mkdir(path: string, mode: number, caller: Caller): Promise<void> {
    await this.locked(() =>
      this.place(path, caller, S_IFDIR, (layer, rel) => layer.mkdir(rel, mode & 0o7777)),
    );
  }

  async mknod(path: string, mode: number, rdev: number, caller: Caller): Promise<void> {
    // A 0/0 character device would be read back as a whiteout: the kernel refuses it too.
    if (this.format.isWhiteoutRequest(mode, rdev)) throw fsError('EPERM');
    await this.locked(() =>
      this.place(path, caller, mode & S_IFMT, (layer, rel) => layer.mknod(rel, mode, rdev)),
    );
  }

  async symlink(target: string, path: string, caller: Caller): Promise<void> {
    await this.locked(() =>
      this.place(path, caller, S_IFLNK, (layer, rel) => layer.symlink(target, rel)),
    );
  }

  async link(existingPath: string, path: string): Promise<void> {
    await this.locked(async () => {
      const source = await this.copyUp(await this.entry(existingPath));
      if (isDir(source)) throw fsError('EPERM');
      const upper = this.writable();
      const sourceRel = upperOf(source, upper)!;
      const hasOrigin = this.format.originOf(upper, sourceRel) !== undefined;
      await this.place(path, undefined, source.type, (layer, rel) => {
        if (hasOrigin) this.format.markImpure(upper, parentOf(path)); // kernel ovl_link
        return layer.link(sourceRel, rel, upper);
      });
    });
  }

  async unlink(path: string): Promise<void> {
    await this.locked(async () => {
      const entry = await this.entry(path);
      if (isDir(entry)) throw fsError('EISDIR');
      await this.remove(entry);
    });
  }

  async rmdir(path: string): Promise<void> {
    await this.locked(async () => {
      const entry = await this.entry(path);
      if (!isDir(entry)) throw fsError('ENOTDIR');
      if (path === '') throw fsError('EBUSY');
      if ((await this.readdir(path)).length > 0) throw fsError('ENOTEMPTY');
      await this.remove(entry);
    });
  }

  async rename(from: string, to: string): Promise<void> {
    await this.locked(async () => {
      const source = await this.entry(from);
      const target = await this.lookup.find(to);
      await this.checkRename(source, target, from, to);
      if (target !== undefined && target.ino === source.ino && !isDir(source)) return;
      await this.moveInUpper(source, target, from, to);
    });
  }

  // ---- attribute changes ----------------------------------------------------------------------

  async truncate(path: string, size: number): Promise<void> {
    await this.locked(async () => {
      const entry = await this.copyUp(await this.entry(path), size === 0);
      await this.writable().truncate(upperOf(entry, this.upper)!, size);
    });
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.changeUpper(path, (upper, rel) => upper.chmod(rel, mode & 0o7777));
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    // (uid_t)-1 means "leave as is"; it arrives as 2^32-1.
    const keep = (id: number): number => (id === 0xffffffff ? -1 : id);
    await this.changeUpper(path, (upper, rel) =>
      upper.chown(rel, { uid: keep(uid), gid: keep(gid) }),
    );
  }

  async utimens(path: string, atime: Timespec, mtime: Timespec): Promise<void> {
    await this.changeUpper(path, (upper, rel) => upper.utimens(rel, atime, mtime));
  }

  async setxattr(
    path: string,
    name: string,
    value: Buffer,
    flags: number,
    caller: Caller,
  ): Promise<void> {
    if (!this.xattrVisible(name, caller)) throw fsError('EPERM');
    const stored = this.format.escapeXattr(name);
    await this.changeUpper(path, (upper, rel) => upper.setxattr(rel, stored, value, flags));
  }

  async removexattr(path: string, name: string, caller: Caller): Promise<void> {
    // Looking first avoids a copy-up for a removal that fails anyway (kernel ovl_xattr_set).
    await this.getxattr(path, name, caller);
    const stored = this.format.escapeXattr(name);
    await this.changeUpper(path, (upper, rel) => upper.removexattr(rel, stored));
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The entry at `path`; ENOENT when the merged view has no such name. */
  async entry(path: string): Promise<Entry> {
    const entry = await this.lookup.find(path);
    if (entry === undefined) throw fsError('ENOENT', path);
    return entry;
  }

  private writable(): WritableLayer {
    if (this.upper === undefined) throw fsError('EROFS');
    return this.upper;
  }

  private locked<T>(task: () => Promise<T>): Promise<T> {
    this.writable();
    return this.mutex.run(async () => {
      try {
        return await task();
      } finally {
        this.lookup.stats.changed();
        this.missingXattrs.clear();
      }
    });
  }

  /** Returns `value` after dropping the stats a change outside the mutex made stale. */
  private touched<T>(value: T): T {
    this.lookup.stats.changed();
    return value;
  }

  private async copyUp(entry: Entry, truncate = false): Promise<Entry> {
    this.writable();
    return this.copyUps!.ensure(entry, { truncate });
  }

  private async changeUpper(
    path: string,
    change: (upper: WritableLayer, rel: string) => Promise<void> | void,
  ): Promise<void> {
    await this.locked(async () => {
      const entry = await this.copyUp(await this.entry(path));
      await change(this.writable(), upperOf(entry, this.upper)!);
    });
  }

  /**
   * Creates a new object at `path` (which must not exist in the merged view) through `build`.
   * Over a whiteout it is built in the work directory and swapped in, so the lower object never
   * shows through; a directory made there is opaque (kernel ovl_create_over_whiteout).
   */
  private async place(
    path: string,
    caller: Caller | undefined,
    type: number,
    build: (layer: WritableLayer, rel: string) => Promise<void> | void,
    /** The caller found no `path` under the lock already. */
    absent = false,
  ): Promise<void> {
    const upper = this.writable();
    const parent = await this.parentDir(path);
    if (!absent && (await this.lookup.find(path)) !== undefined) throw fsError('EEXIST');
    const owner = caller && (await this.ownerFor(parent, caller));
    const stale = await upper.lstat(path);
    if (stale === undefined) {
      await build(upper, path);
      if (owner) await this.own(upper, path, owner, type);
      // As the kernel does: a new directory in a merged one is made opaque. Only an optimization
      // (no lower has the name), so a failure is ignored.
      if (type === S_IFDIR && hasLower(parent, upper)) this.tryMarkOpaque(upper, path);
    } else {
      const work = this.work!.layer;
      const tmp = this.work!.tempName();
      await build(work, tmp);
      if (owner) await this.own(work, tmp, owner, type);
      if (type === S_IFDIR) {
        this.markOpaque(work, tmp, path);
        upper.rename(tmp, path, RENAME_EXCHANGE, work);
        await work.unlink(tmp);
      } else {
        upper.rename(tmp, path, 0, work);
      }
    }
    this.lookup.forgetOne(path);
    this.emit({ type: 'create', path });
  }

  /** The entry of a file just created in the upper, open as `fd`: it has no origin and no other
   * layer, so it needs no lookup (which would read its parent's and its own xattrs). */
  private created(path: string, fd: number): Entry {
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const entry: Entry = {
      path,
      type: S_IFREG,
      stack: [{ layer: this.writable(), rel: path }],
      ino: this.inodes.forUpperReal(dev, ino),
    };
    this.lookup.set(path, entry);
    return entry;
  }

  /** The parent directory of `path`, copied up. */
  private async parentDir(path: string): Promise<Entry> {
    const parent = await this.entry(parentOf(path));
    if (!isDir(parent)) throw fsError('ENOTDIR');
    return this.copyUp(parent);
  }

  /** Owner of a new object: the caller, or the directory's group when it is set-group-ID. */
  private async ownerFor(parent: Entry, caller: Caller): Promise<Caller & { setgid: boolean }> {
    const attrs = await this.attributesOf(parent);
    const setgid = (Number(attrs.stat.mode) & S_ISGID) !== 0;
    return { uid: caller.uid, gid: setgid ? Number(attrs.stat.gid) : caller.gid, setgid };
  }

  private async own(
    layer: WritableLayer,
    rel: string,
    owner: Caller & { setgid: boolean },
    type: number,
  ): Promise<void> {
    if (!this.privileged || (owner.uid === 0 && owner.gid === 0 && !owner.setgid)) return;
    const mode = type === S_IFLNK ? 0 : Number((await layer.lstat(rel))!.mode);
    await layer.chown(rel, owner);
    // chown clears set-id bits; new directories of a set-group-ID directory keep that bit.
    if (type !== S_IFLNK)
      await layer.chmod(rel, (mode & 0o7777) | (type === S_IFDIR && owner.setgid ? S_ISGID : 0));
  }

  /** unlink and rmdir: a plain removal in the upper, or a whiteout when a lower has the name. */
  private async remove(entry: Entry): Promise<void> {
    const upper = this.writable();
    const parent = await this.parentDir(entry.path);
    const inUpper = upperOf(entry, upper) !== undefined;
    // By name in the parent's lowers, as the kernel's ovl_lower_positive: a directory whose lower
    // content comes by redirect needs none, and a whiteout in an opaque or upper-only directory
    // would show through kernel overlayfs, which reads such directories unfiltered.
    const needsWhiteout = await this.lookup.lowerHas(parent, nameOf(entry.path));
    if (!needsWhiteout) {
      if (isDir(entry)) await upper.removeTree(entry.path);
      else await upper.unlink(entry.path);
    } else {
      await this.whiteOut(upper, entry, inUpper);
      this.emit({ type: 'whiteout', path: entry.path });
    }
    this.lookup.forgetOne(entry.path);
    this.emit({ type: 'delete', path: entry.path });
  }

  /**
   * A whiteout at the entry's name. With nothing of the name in the upper, one mknod makes it;
   * else it is made in the work directory and swapped in, so the lower object never shows.
   */
  private async whiteOut(upper: WritableLayer, entry: Entry, inUpper: boolean): Promise<void> {
    if (!inUpper) return this.format.makeWhiteout(upper, entry.path);
    const work = this.work!.layer;
    const tmp = this.work!.tempName();
    this.format.makeWhiteout(work, tmp);
    if (!isDir(entry)) return upper.rename(tmp, entry.path, 0, work);
    // Swap the whiteout in for the directory in one step, then drop the old directory.
    upper.rename(tmp, entry.path, RENAME_EXCHANGE, work);
    await work.removeTree(tmp); // only whiteouts can be left in it
  }

  private async checkRename(
    source: Entry,
    target: Entry | undefined,
    from: string,
    to: string,
  ): Promise<void> {
    if (from === '' || to === '') throw fsError('EBUSY');
    if (isDir(source) && isWithin(to, from) && to !== from) throw fsError('EINVAL');
    const parent = await this.entry(parentOf(to));
    if (!isDir(parent)) throw fsError('ENOTDIR');
    if (target === undefined) return;
    if (isDir(source) && !isDir(target)) throw fsError('ENOTDIR');
    if (!isDir(source) && isDir(target)) throw fsError('EISDIR');
    if (isDir(target) && to !== from && (await this.readdir(to)).length > 0)
      throw fsError('ENOTEMPTY');
  }

  private async moveInUpper(
    source: Entry,
    target: Entry | undefined,
    from: string,
    to: string,
  ): Promise<void> {
    if (from === to) return;
    const upper = this.writable();
    // A directory that merges lower content moves by a redirect, or not at all (EXDEV: the
    // kernel's default, and `mv` then copies).
    const merged = isDir(source) && hasLower(source, upper);
    if (merged && !this.createRedirects) throw fsError('EXDEV');
    const moved = await this.copyUp(source);
    const fromParent = await this.parentDir(from);
    const targetParent = await this.parentDir(to);
    const leaveWhiteout = await this.lookup.lowerHas(fromParent, nameOf(from));
    const targetStale = await upper.lstat(to);
    if (merged) this.setRedirect(moved, from, to);
    else if (isDir(moved) && hasLower(targetParent, upper) && !this.format.isOpaque(upper, from)) {
      // A directory of the upper alone must not merge with what lowers have under its new name.
      this.markOpaque(upper, from, to);
    }
    if (parentOf(from) !== parentOf(to) && this.format.originOf(upper, from) !== undefined) {
      this.format.markImpure(upper, parentOf(to)); // kernel ovl_rename
    }
    if (targetStale !== undefined && typeOf(targetStale) === S_IFDIR && target !== undefined) {
      // An empty merged directory can hold whiteouts: clear them so rename(2) may replace it.
      await this.clearWhiteouts(to);
    }
    if (isDir(moved) && targetStale !== undefined && this.format.isWhiteout(targetStale)) {
      // A directory cannot replace a whiteout (a character device): swap them instead.
      upper.rename(from, to, RENAME_EXCHANGE);
      if (!leaveWhiteout) await upper.unlink(from);
    } else {
      upper.rename(from, to, leaveWhiteout ? RENAME_WHITEOUT : 0);
    }
    if (leaveWhiteout) this.emit({ type: 'whiteout', path: from });
    this.lookup.forget(from);
    this.lookup.forget(to);
  }

  /**
   * Records where a moved directory's lower content lives (kernel ovl_set_redirect): its old name
   * when it stays in the same directory, else the absolute path in the lowers. A redirect that
   * still holds is kept.
   */
  private setRedirect(moved: Entry, from: string, to: string): void {
    const upper = this.writable();
    const sameDir = parentOf(from) === parentOf(to);
    const existing = this.format.redirectOf(upper, from);
    if (existing !== undefined && (sameDir || existing.startsWith('/'))) return;
    const lower = moved.stack.find((p) => p.layer !== upper)!;
    const target = sameDir && existing === undefined ? nameOf(from) : `/${lower.rel}`;
    this.format.setRedirect(upper, from, target);
    this.emit({ type: 'redirect', path: to, target });
  }

  private async clearWhiteouts(rel: string): Promise<void> {
    const upper = this.writable();
    for (const { name } of await upper.readdir(rel)) await upper.unlink(join(rel, name));
  }

  private tryMarkOpaque(layer: WritableLayer, rel: string): void {
    try {
      this.markOpaque(layer, rel, rel);
    } catch {
      // See the caller: nothing depends on it.
    }
  }

  private markOpaque(layer: WritableLayer, rel: string, path: string): void {
    this.format.markOpaque(layer, rel);
    this.emit({ type: 'opaque', path });
  }

  private emit(event: UnionEvent): void {
    this.onEvent?.(event);
  }
}

/**
 * The merged listing's order: each name where the lowest layer that has it lists it, lowest layer
 * first, then the names only the upper has, sorted. Lowers never change, so a copy-up (which puts
 * a lower name in the upper) leaves every name where it was. The kernel's readdir cache needs
 * that: it appends chunks read through any open handle of the directory, trusting an offset to
 * mean the same name as long as the directory's names are unchanged.
 */
function mergedOrder(
  dir: Entry,
  listed: Map<ReadableLayer, Map<string, DirEntry>>,
  upper: WritableLayer | undefined,
): Set<string> {
  const names = new Set<string>();
  for (const { layer } of [...dir.stack].reverse()) {
    if (layer !== upper) for (const name of listed.get(layer)!.keys()) names.add(name);
  }
  const upperOnly = [...(upper ? (listed.get(upper)?.keys() ?? []) : [])].filter(
    (name) => !names.has(name),
  );
  for (const name of upperOnly.sort()) names.add(name);
  return names;
}
