/**
 * Layers over real directories. Nothing is resolved from `/` but the layer root, once: every name
 * is reached from the root's directory fd, its parent opened beneath the root with no symlink
 * crossed (openat2, see native.ts), and the name itself handed to a call that does not follow it
 * (lstat, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, l*xattr, rename, unlink). A symlink inside a layer is
 * never followed, whatever changes under the daemon, and paths work at any depth: the kernel never
 * sees more than the layer-relative part. Node's fs calls get `/proc/self/fd/<parent fd>/<name>`
 * as exact bytes, so names that are not UTF-8 stay exact. See native-notes/syscalls.md.
 *
 * Metadata calls are synchronous: answered from the dentry cache they take a few µs, a threadpool
 * hop 30-40 µs, and lookups, creates and removals make one per name (see
 * native-notes/performance.md). Listings are one getdents64 pass (for d_ino); file data goes
 * through the threadpool.
 */
import {
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  close,
  constants as fsConstants,
  fstat,
  fstatSync,
  ftruncate,
} from 'node:fs';
import { promisify } from 'node:util';
import { copyData } from './copy-data.js';
import { DirFds } from './dir-fds.js';
import * as native from './native.js';
import { STAT_LAYOUT_KNOWN } from './raw-stat.js';
import type { DirEntry, Owner, ReadableLayer, Stat, WritableLayer } from './layer.js';

const closeFd = promisify(close);
const ftruncateFd = promisify(ftruncate);
const fstatFd = (fd: number): Promise<Stat> =>
  new Promise((resolve, reject) =>
    fstat(fd, { bigint: true }, (err, stat) => (err ? reject(err) : resolve(stat))),
  );

const {
  O_RDONLY,
  O_WRONLY,
  O_CREAT,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_DIRECTORY,
  O_NOATIME,
  S_IFMT,
  S_IFDIR,
} = fsConstants;

/** Opened with O_NOATIME where the daemon may set it (it owns the file, or has CAP_FOWNER). */
function openLeavingAtime(path: Buffer, flags: number): number {
  try {
    return openSync(path, flags | O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return openSync(path, flags);
  }
}

/** No such name: also when a parent is not a directory, or is a symlink (never crossed). */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

/** The stat of `name` in the directory open as `dir`; undefined when it does not exist. */
function statAt(dir: number, name: string): Stat | undefined {
  return STAT_LAYOUT_KNOWN
    ? native.lstatAt(dir, name)
    : lstatSync(proc(dir, name), { bigint: true, throwIfNoEntry: false });
}

/** `call`'s value, or undefined when it fails for a missing name. */
function missingAsUndefined<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch (err) {
    if (!isMissing(err)) throw err;
    return undefined;
  }
}

/** The object `name` in the directory open as `dir` (or the object open as `dir` itself). */
const proc = (dir: number, name?: string): Buffer =>
  Buffer.from(
    name === undefined ? `/proc/self/fd/${dir}` : `/proc/self/fd/${dir}/${name}`,
    'latin1',
  );

/** Runs `done` once `use` is finished, also when `use` returns a promise. */
function finishing<T>(done: () => void, use: () => T): T {
  let result: T;
  try {
    result = use();
  } catch (err) {
    done();
    throw err;
  }
  if (result instanceof Promise) return result.finally(done) as T;
  done();
  return result;
}

/** Runs `call` at once and gives its result as a promise (a throw becomes a rejection). */
const now = <T>(call: () => T): Promise<T> => new Promise((resolve) => resolve(call()));

/**
 * A layer holds its root open for its whole life; tools make short-lived layers, so the root is
 * closed when the layer object is garbage-collected rather than by every caller.
 */
const closeWhenCollected = new FinalizationRegistry<number>((fd) => native.closeFd(fd));

export interface DiskLayerOptions {
  /**
   * How many directory fds to keep open for reuse (default 0). Only for a layer that changes
   * through this object alone: a directory moved by anything else would be reached at its old fd.
   */
  keepDirs?: number;
}

export class DiskLayer implements ReadableLayer {
  /**
   * Whether reading this layer moves atime. Only the upper's does: overlayfs reads every real
   * object with O_NOATIME and records access on the upper alone, so lower layers never change.
   */
  protected readonly recordsAccess: boolean = false;
  private readonly prefix: Buffer;
  private rootFd = -1;
  private readonly dirs: DirFds;

  constructor(
    readonly index: number,
    readonly root: string,
    options: DiskLayerOptions = {},
  ) {
    this.prefix = Buffer.from(root.endsWith('/') ? root : root + '/', 'latin1');
    this.dirs = new DirFds(options.keepDirs ?? 0, native.closeFd);
  }

  absolute(rel: string): Buffer {
    return rel === ''
      ? this.prefix.subarray(0, this.prefix.length - 1)
      : Buffer.concat([this.prefix, Buffer.from(rel, 'latin1')]);
  }

  /** The root directory, opened once, at first use (the only path resolved from `/`). */
  private rootDir(): number {
    if (this.rootFd < 0) {
      this.rootFd = native.openRoot(this.absolute(''));
      closeWhenCollected.register(this, this.rootFd);
    }
    return this.rootFd;
  }

  /**
   * Runs `use` with the parent directory of `rel` as an fd and its last name ('.' for the root).
   * A name at the top level needs no syscall; deeper ones cost one openat2 and one close.
   */
  at<T>(rel: string, use: (dir: number, name: string) => T): T {
    const slash = rel.lastIndexOf('/');
    if (slash < 0) return use(this.rootDir(), rel === '' ? '.' : rel);
    return this.inDir(rel.slice(0, slash), (dir) => use(dir, rel.slice(slash + 1)));
  }

  /** A directory of this layer moved or went away: kept fds would reach it at its old path. */
  forgetDirs(): void {
    this.dirs.forget();
  }

  /** Runs `use` with the directory `rel` itself as an fd (a kept one, or opened for it). */
  protected inDir<T>(rel: string, use: (dir: number) => T): T {
    if (rel === '') return use(this.rootDir());
    const slot = this.dirs.acquire(rel, () => native.openDirBeneath(this.rootDir(), rel));
    return finishing(
      () => this.dirs.release(slot),
      () => use(slot.fd),
    );
  }

  /** undefined when there is no such name (or a parent is not a directory). */
  lstat(rel: string): Promise<Stat | undefined> {
    return now(() => missingAsUndefined(() => this.at(rel, statAt)));
  }

  lstatAll(dir: string, names: readonly string[]): Promise<(Stat | undefined)[]> {
    return now(
      () =>
        missingAsUndefined(() =>
          this.inDir(dir, (fd) => names.map((name) => missingAsUndefined(() => statAt(fd, name)))),
        ) ?? names.map(() => undefined),
    );
  }

  /** One getdents64 pass, synchronous like the per-name calls (a few ms for 100,000 names). */
  readdir(rel: string): Promise<DirEntry[]> {
    return now(() => this.inDir(rel, (dir) => this.listing(dir, rel)));
  }

  /** The entries of directory `rel`, open as `dir`. */
  protected listing(dir: number, rel: string): DirEntry[] {
    const fd = this.openInLayer(proc(dir), O_RDONLY | O_DIRECTORY);
    return finishing(
      () => closeSync(fd),
      () => native.readDirents(fd, this.absolute(rel)),
    );
  }

  readlink(rel: string): Promise<string> {
    return now(() =>
      this.at(rel, (dir, name) => readlinkSync(proc(dir, name), { encoding: 'buffer' })).toString(
        'latin1',
      ),
    );
  }

  getxattr(rel: string, name: string): Buffer | undefined {
    return this.at(rel, (dir, base) => native.getxattr(proc(dir, base), name));
  }

  listxattr(rel: string): string[] {
    return this.at(rel, (dir, name) => native.listxattr(proc(dir, name)));
  }

  open(rel: string, flags: number): Promise<number> {
    return now(() =>
      this.at(rel, (dir, name) => this.openInLayer(proc(dir, name), flags | O_NOFOLLOW)),
    );
  }

  /** Opens an object of this layer; reading one below the upper leaves its atime alone. */
  private openInLayer(path: Buffer, flags: number): number {
    const reading = (flags & native.O_ACCMODE) === O_RDONLY;
    return reading && !this.recordsAccess ? openLeavingAtime(path, flags) : openSync(path, flags);
  }

  handle(rel: string): native.FileHandle | undefined {
    return this.at(rel, (dir, name) => native.nameToHandle(proc(dir, name)));
  }

  /** open_by_handle_at refuses an O_PATH mount fd (EBADF): this one is opened for reading. */
  private mountFd = -1;

  statByHandle(handle: native.FileHandle): Stat | undefined {
    if (this.mountFd < 0) {
      this.mountFd = openSync(this.absolute(''), O_RDONLY | O_DIRECTORY);
      closeWhenCollected.register(this, this.mountFd);
    }
    const fd = native.openByHandle(this.mountFd, handle);
    if (fd === undefined) return undefined;
    return finishing(
      () => native.closeFd(fd),
      () => fstatSync(fd, { bigint: true }),
    );
  }
}

/** Both ends of a rename or link must be resolved the same way. */
function diskLayer(layer: ReadableLayer): DiskLayer {
  if (!(layer instanceof DiskLayer)) throw new Error(`layer ${layer.root} is not on disk`);
  return layer;
}

export class WritableDiskLayer extends DiskLayer implements WritableLayer {
  protected override readonly recordsAccess: boolean = true;

  create(rel: string, flags: number, mode: number): Promise<number> {
    return now(() =>
      this.at(rel, (dir, name) => openSync(proc(dir, name), flags | O_CREAT | O_NOFOLLOW, mode)),
    );
  }

  mkdir(rel: string, mode: number): Promise<void> {
    return now(() => void this.at(rel, (dir, name) => mkdirSync(proc(dir, name), { mode })));
  }

  mknod(rel: string, mode: number, rdev: number): void {
    this.at(rel, (dir, name) => native.mknodAt(dir, name, mode, rdev));
  }

  symlink(target: string, rel: string): Promise<void> {
    const bytes = Buffer.from(target, 'latin1');
    return now(() => this.at(rel, (dir, name) => symlinkSync(bytes, proc(dir, name))));
  }

  link(existing: string, rel: string, fromLayer: WritableLayer = this): Promise<void> {
    // link(2) does not follow a symlink at `existing`: it links the symlink itself.
    return now(() =>
      diskLayer(fromLayer).at(existing, (fromDir, fromName) =>
        this.at(rel, (dir, name) => linkSync(proc(fromDir, fromName), proc(dir, name))),
      ),
    );
  }

  unlink(rel: string): Promise<void> {
    return now(() => this.at(rel, (dir, name) => unlinkSync(proc(dir, name))));
  }

  rmdir(rel: string): Promise<void> {
    return now(() => {
      this.at(rel, (dir, name) => rmdirSync(proc(dir, name)));
      this.forgetDirs();
    });
  }

  /** Removes `rel` and everything below it; a name already gone is fine. */
  async removeTree(rel: string): Promise<void> {
    const stat = await this.lstat(rel);
    if (stat === undefined) return;
    if (!stat.isDirectory()) return this.unlink(rel);
    this.emptyDir(rel);
    await this.rmdir(rel);
  }

  /** Empties directory `rel` from its fd, each name typed by the listing: no lookup per name. */
  private emptyDir(rel: string): void {
    this.inDir(rel, (dir) => {
      for (const { name, type } of this.listing(dir, rel)) {
        const path = proc(dir, name);
        if ((type || lstatSync(path).mode & S_IFMT) !== S_IFDIR) {
          unlinkSync(path);
          continue;
        }
        this.emptyDir(`${rel}/${name}`);
        rmdirSync(path);
      }
    });
  }

  chmod(rel: string, mode: number): Promise<void> {
    return now(() => this.at(rel, (dir, name) => native.chmodAt(dir, name, mode)));
  }

  chown(rel: string, owner: Owner): Promise<void> {
    return now(() =>
      this.at(rel, (dir, name) => lchownSync(proc(dir, name), owner.uid, owner.gid)),
    );
  }

  async truncate(rel: string, size: number): Promise<void> {
    // truncate(2) follows a symlink at the name: open it without following instead.
    const fd = await this.open(rel, O_WRONLY | O_NONBLOCK);
    try {
      await ftruncateFd(fd, size);
    } finally {
      await closeFd(fd);
    }
  }

  /** Creates `to` (which must not exist) with the data of `rel` in `source`; holes stay holes. */
  async copyFrom(source: ReadableLayer, rel: string, to: string): Promise<void> {
    const from = await source.open(rel, O_RDONLY);
    try {
      const stat = await fstatFd(from);
      // Through the fds: the source is exactly the object just opened, the target a new name.
      await this.at(to, (dir, name) => copyData(proc(from), proc(dir, name), stat));
    } finally {
      await closeFd(from);
    }
  }

  utimens(rel: string, atime: native.Timespec, mtime: native.Timespec): void {
    this.at(rel, (dir, name) => native.utimensAt(dir, name, atime, mtime));
  }

  setxattr(rel: string, name: string, value: Buffer, flags = 0): void {
    this.at(rel, (dir, base) => native.setxattr(proc(dir, base), name, value, flags));
  }

  removexattr(rel: string, name: string): void {
    this.at(rel, (dir, base) => native.removexattr(proc(dir, base), name));
  }

  rename(from: string, to: string, flags = 0, fromLayer: WritableLayer = this): void {
    const source = diskLayer(fromLayer);
    try {
      source.at(from, (fromDir, fromName) =>
        this.at(to, (dir, name) => native.renameAt(fromDir, fromName, dir, name, flags)),
      );
    } finally {
      this.forgetDirs(); // a directory may have moved, or been exchanged
      source.forgetDirs();
    }
  }
}
