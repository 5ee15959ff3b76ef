/**
 * The contract between the patched fuse-native binding (`binding.ts`) and the adapter that
 * implements the filesystem (`adapter.ts`). The shapes here are what the patch delivers, not what
 * stock fuse-native 2.2.6 passes (see native-notes/binding.md for each difference).
 *
 * Conventions:
 * - Every path, name, link target and xattr name is a *byte string*: a JS string whose char codes
 *   are the raw bytes 0..255 (latin1). `Buffer.from(p, 'latin1')` gives the exact bytes back.
 * - Paths of ops on an open handle (read, write, fgetattr, ftruncate, flush, fsync, release) may be
 *   `null` once the file was unlinked or renamed away (libfuse `nullpath_ok` + `hard_remove`):
 *   implementations must work from the handle alone.
 * - Callbacks take a negative errno (or 0) first. They must be called exactly once; the binding
 *   guards against a second call and turns a thrown exception or a non-number error into EIO.
 */

export interface CallerContext {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

/** Attributes as FUSE wants them. Integers up to 2^53 are exact; times are nanoseconds. */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /**
   * getattr/fgetattr only: the kernel must not cache these attributes, even with `attrTimeout`,
   * because they can change without a request on this name (another name of a hard link, which
   * libfuse 2 makes a separate kernel inode).
   */
  volatile?: boolean;
  /**
   * getattr/fgetattr only: a directory's attributes that only a change through the mount can move
   * (a lower directory). The binding may keep them for the GETATTRs the kernel sends after each
   * listing (it drops a directory's atime when it lists it), until the next change.
   */
  settled?: boolean;
  /**
   * getattr only: the real path (latin1 bytes) of a lower file the binding may open read-only
   * itself, as the open op would, and own like a lent handle (`BindingOptions.lend`).
   */
  lower?: string;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** `nsec` may be UTIME_NOW or UTIME_OMIT, exactly as utimensat(2) takes them. */
export interface FuseTime {
  sec: number;
  nsec: number;
}
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

export type Done = (errno: number) => void;
export type Reply<T> = (errno: number, value?: T) => void;
/** A change's answer: optionally the attributes after it, which spare the getattr that libfuse
 * sends next on the same path. */
export type Changed = (errno: number, after?: FuseStat) => void;
/** create's answer: the handle, and optionally the new file's attributes (as for Changed). */
export type Created = (errno: number, fh?: number, after?: FuseStat) => void;
type Path = string;
type MaybePath = string | null;

export interface FuseOps {
  init?(done: Done): void;
  statfs(path: Path, reply: Reply<FuseStatfs>): void;
  /**
   * `ahead` (optional): the attributes of other names in the same directory, by name, that a walk
   * will ask for next. The binding answers libfuse's lookups of them itself, until anything changes.
   */
  getattr(
    path: Path,
    reply: (errno: number, stat?: FuseStat, ahead?: Map<string, FuseStat>) => void,
  ): void;
  fgetattr(path: MaybePath, fh: number, reply: Reply<FuseStat>): void;
  access(path: Path, mode: number, done: Done): void;
  readlink(path: Path, reply: Reply<string>): void;
  /** `stats[i]` belongs to `names[i]`; it gives readdir its d_type and d_ino. */
  readdir(path: Path, reply: (errno: number, names?: string[], stats?: FuseStat[]) => void): void;
  opendir?(path: Path, reply: Reply<number>): void;
  releasedir?(path: MaybePath, fh: number, done: Done): void;
  open(path: Path, flags: number, reply: Reply<number>): void;
  create(path: Path, flags: number, mode: number, reply: Created): void;
  read(
    path: MaybePath,
    fh: number,
    buf: Buffer,
    length: number,
    position: number,
    reply: Reply<number>,
  ): void;
  write(
    path: MaybePath,
    fh: number,
    buf: Buffer,
    length: number,
    position: number,
    reply: Reply<number>,
  ): void;
  /** Left out by the adapter: then the kernel sends no FLUSH at all (it stops after one ENOSYS),
   * which spares every close() a round trip. */
  flush?(path: MaybePath, fh: number, done: Done): void;
  fsync(path: MaybePath, datasync: boolean, fh: number, done: Done): void;
  release(path: MaybePath, fh: number, done: Done): void;
  truncate(path: Path, size: number, done: Changed): void;
  ftruncate(path: MaybePath, fh: number, size: number, done: Changed): void;
  mkdir(path: Path, mode: number, done: Changed): void;
  mknod(path: Path, mode: number, rdev: number, done: Changed): void;
  rmdir(path: Path, done: Done): void;
  unlink(path: Path, done: Done): void;
  rename(src: Path, dest: Path, done: Done): void;
  link(target: Path, newPath: Path, done: Changed): void;
  symlink(target: string, linkPath: Path, done: Changed): void;
  chmod(path: Path, mode: number, done: Changed): void;
  chown(path: Path, uid: number, gid: number, done: Changed): void;
  utimens(path: Path, atime: FuseTime, mtime: FuseTime, done: Changed): void;
  /** The whole value; the binding answers size probes and ERANGE from it (ENODATA if absent). */
  getxattr(path: Path, name: string, reply: Reply<Buffer>): void;
  /** All names; the binding answers size probes and ERANGE from the list. */
  listxattr(path: Path, reply: Reply<string[]>): void;
  setxattr(path: Path, name: string, value: Buffer, flags: number, done: Done): void;
  removexattr(path: Path, name: string, done: Done): void;
}
