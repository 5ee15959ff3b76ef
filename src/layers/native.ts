/**
 * The syscalls Node's `fs` lacks, called through koffi (a maintained FFI that ships prebuilt
 * binaries in its npm package): xattrs on the link itself, mknodat for whiteouts, renameat2
 * flags, utimensat with nanoseconds and UTIME_NOW/UTIME_OMIT, and openat2 to resolve names beneath
 * a layer root without following symlinks. See native-notes/syscalls.md.
 *
 * Paths are Buffers (exact bytes); names are byte strings (latin1). Calls are synchronous: each is
 * one short syscall on metadata, cheaper than a hop through the libuv threadpool.
 */
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import { RawStat, STAT_SIZE } from './raw-stat.js';

const require = createRequire(import.meta.url);
const koffi = require('koffi') as typeof import('koffi');
const libc = koffi.load('libc.so.6');

const sys = {
  lgetxattr: libc.func(
    'intptr_t lgetxattr(const char *p, const char *n, _Out_ uint8_t *v, size_t s)',
  ),
  lsetxattr: libc.func(
    'int lsetxattr(const char *p, const char *n, const uint8_t *v, size_t s, int f)',
  ),
  llistxattr: libc.func('intptr_t llistxattr(const char *p, _Out_ uint8_t *list, size_t s)'),
  lremovexattr: libc.func('int lremovexattr(const char *p, const char *n)'),
  renameat2: libc.func(
    'int renameat2(int od, const char *o, int nd, const char *n, unsigned int f)',
  ),
  utimensat: libc.func('int utimensat(int dirfd, const char *p, const int64_t *times, int flags)'),
  nameToHandleAt: libc.func(
    'int name_to_handle_at(int dirfd, const char *p, _Inout_ uint8_t *handle, _Out_ int *mountId, int flags)',
  ),
  openByHandleAt: libc.func('int open_by_handle_at(int mountFd, const uint8_t *handle, int flags)'),
  fallocate: libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
  // openat2 has no glibc wrapper; the fixed prototype avoids koffi's slower variadic calls.
  openat2: libc.func('long syscall(long n, int d, const char *p, const uint64_t *how, size_t s)'),
  openat: libc.func('int openat(int d, const char *p, int flags)'),
  close: libc.func('int close(int fd)'),
  mknodat: libc.func('int mknodat(int d, const char *p, uint32_t mode, uint64_t dev)'),
  fchmodat: libc.func('int fchmodat(int d, const char *p, uint32_t mode, int flags)'),
  getdents64: libc.func('intptr_t getdents64(int fd, _Out_ uint8_t *buf, size_t n)'),
  fstatat: libc.func('int fstatat(int d, const char *p, _Out_ uint8_t *buf, int flags)'),
};

const { ENOENT, ENOTDIR, ELOOP } = osConstants.errno;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const SYS_OPENAT2 = 437;
const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** open(2)'s access-mode bits (Node's fs.constants has no O_ACCMODE). */
export const O_ACCMODE = 0o3;

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** An error shaped like Node's own fs errors, so callers treat both alike. */
function sysError(syscall: string, path: Buffer): NodeJS.ErrnoException {
  const errno = koffi.errno();
  const code = errnoNames.get(errno) ?? 'EIO';
  const shown = path.toString('latin1');
  return Object.assign(new Error(`${code}: ${syscall} '${shown}'`), {
    errno: -errno,
    code,
    syscall,
    path: shown,
  });
}

const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'latin1');
const cpath = (p: Buffer): Buffer => Buffer.concat([p, Buffer.alloc(1)]);

function check(result: unknown, syscall: string, path: Buffer): number {
  const n = Number(result);
  if (n < 0) throw sysError(syscall, path);
  return n;
}

/** The value of xattr `name`, or undefined when the object has no such xattr. */
export function getxattr(path: Buffer, name: string): Buffer | undefined {
  const p = cpath(path);
  const n = cstr(name);
  for (;;) {
    const size = Number(sys.lgetxattr(p, n, null, 0));
    if (size < 0) return missingXattr(path);
    const value = Buffer.alloc(size);
    const got = Number(sys.lgetxattr(p, n, value, size));
    if (got >= 0) return value.subarray(0, got);
    if (koffi.errno() !== osConstants.errno.ERANGE) return missingXattr(path);
    // The value grew between the two calls: ask again.
  }
}

function missingXattr(path: Buffer): undefined {
  const errno = koffi.errno();
  if (errno === osConstants.errno.ENODATA || errno === osConstants.errno.ENOTSUP) return undefined;
  throw sysError('lgetxattr', path);
}

export function setxattr(path: Buffer, name: string, value: Buffer, flags = 0): void {
  check(sys.lsetxattr(cpath(path), cstr(name), value, value.length, flags), 'lsetxattr', path);
}

export function removexattr(path: Buffer, name: string): void {
  check(sys.lremovexattr(cpath(path), cstr(name)), 'lremovexattr', path);
}

/** All xattr names of the object (byte strings). */
export function listxattr(path: Buffer): string[] {
  const p = cpath(path);
  for (;;) {
    const size = Number(sys.llistxattr(p, null, 0));
    if (size < 0) {
      if (koffi.errno() === osConstants.errno.ENOTSUP) return [];
      throw sysError('llistxattr', path);
    }
    if (size === 0) return [];
    const list = Buffer.alloc(size);
    const got = Number(sys.llistxattr(p, list, size));
    if (got >= 0) return splitNames(list.subarray(0, got));
    if (koffi.errno() !== osConstants.errno.ERANGE) throw sysError('llistxattr', path);
  }
}

function splitNames(list: Buffer): string[] {
  return list
    .toString('latin1')
    .split('\0')
    .filter((name) => name.length > 0);
}

// ---- relative to directory fds -------------------------------------------------------------

/** A directory fd to resolve names beneath (O_PATH: it can name things, not read them). */
export function openRoot(path: Buffer): number {
  return check(sys.openat(AT_FDCWD, cpath(path), O_PATH | O_DIRECTORY | O_CLOEXEC), 'open', path);
}

const DIR_FLAGS = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
/** struct open_how {flags, mode, resolve} for every directory resolved beneath a layer root. */
const OPEN_HOW = new BigUint64Array([
  BigInt(DIR_FLAGS),
  0n,
  BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS),
]);

/** Whether the kernel has openat2 (5.6+, and not refused by a seccomp filter); asked once. */
let openat2Works: boolean | undefined;

/**
 * The directory `rel` beneath `root` as a new O_PATH fd, crossing no symlink and never leaving
 * `root` (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). Without
 * openat2 it walks one component at a time with O_NOFOLLOW. A symlink on the way gives ELOOP or
 * ENOTDIR, as does a non-directory.
 */
export function openDirBeneath(root: number, rel: string): number {
  if (rel.length <= PATH_CHUNK) return openDirOnce(root, rel);
  // The kernel takes at most PATH_MAX bytes per path: go down in pieces, each beneath the last.
  const cut = rel.lastIndexOf('/', PATH_CHUNK);
  const part = openDirOnce(root, rel.slice(0, cut));
  try {
    return openDirBeneath(part, rel.slice(cut + 1));
  } finally {
    sys.close(part);
  }
}

/** Below PATH_MAX (4096 with its NUL), with room to spare. */
const PATH_CHUNK = 4000;

function openDirOnce(root: number, rel: string): number {
  if (openat2Works !== false) {
    const p = cstr(rel);
    const fd = Number(sys.openat2(SYS_OPENAT2, root, p, OPEN_HOW, OPEN_HOW.byteLength));
    if (fd >= 0) return ((openat2Works = true), fd);
    const errno = koffi.errno();
    if (openat2Works || (errno !== osConstants.errno.ENOSYS && errno !== osConstants.errno.EPERM))
      throw sysError('openat2', Buffer.from(rel, 'latin1'));
    openat2Works = false;
  }
  return walkBeneath(root, rel, DIR_FLAGS);
}

function walkBeneath(root: number, rel: string, flags: number): number {
  let dir = root;
  for (const name of rel.split('/')) {
    const next = Number(sys.openat(dir, cstr(name), flags));
    const errno = koffi.errno();
    if (dir !== root) sys.close(dir);
    if (next < 0) {
      koffi.errno(errno);
      throw sysError('openat', Buffer.from(rel, 'latin1'));
    }
    dir = next;
  }
  return dir;
}

/** Forces the per-component fallback (tests and measurements). */
export function useOpenat2(enabled: boolean): void {
  openat2Works = enabled ? undefined : false;
}

/** A directory entry as getdents64 gives it: the name (latin1), S_IFMT bits (0 unknown), d_ino. */
export interface Dirent {
  name: string;
  type: number;
  ino: bigint;
}

const DIRENTS_BUFFER = 64 * 1024;

/**
 * Every entry of the directory open as `fd` (for reading), '.' and '..' left out. Unlike Node's
 * readdir it keeps d_ino, which is the number overlayfs shows for a name found only in a lower.
 */
export function readDirents(fd: number, path: Buffer): Dirent[] {
  const buf = Buffer.allocUnsafe(DIRENTS_BUFFER);
  const entries: Dirent[] = [];
  for (;;) {
    const n = check(sys.getdents64(fd, buf, buf.length), 'getdents64', path);
    if (n === 0) return entries;
    // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
    for (let off = 0; off < n; off += buf.readUInt16LE(off + 16)) {
      const start = off + 19;
      const name = buf.toString('latin1', start, buf.indexOf(0, start));
      if (name === '.' || name === '..') continue;
      entries.push({ name, type: buf[off + 18]! << 12, ino: buf.readBigUInt64LE(off) });
    }
  }
}

const statBuffer = Buffer.alloc(STAT_SIZE);

/** lstat of `name` in the directory open as `dir`; undefined when there is no such name. */
export function lstatAt(dir: number, name: string): RawStat | undefined {
  if (Number(sys.fstatat(dir, cstr(name), statBuffer, AT_SYMLINK_NOFOLLOW)) === 0) {
    return new RawStat(statBuffer);
  }
  const errno = koffi.errno();
  if (errno === ENOENT || errno === ENOTDIR || errno === ELOOP) return undefined;
  throw sysError('lstat', Buffer.from(name, 'latin1'));
}

export function closeFd(fd: number): void {
  sys.close(fd);
}

export function mknodAt(dir: number, name: string, mode: number, rdev: number): void {
  check(sys.mknodat(dir, cstr(name), mode, rdev), 'mknodat', Buffer.from(name, 'latin1'));
}

/** chmod of the name itself: a symlink is refused (EOPNOTSUPP), never followed. */
export function chmodAt(dir: number, name: string, mode: number): void {
  const result: unknown = sys.fchmodat(dir, cstr(name), mode, AT_SYMLINK_NOFOLLOW);
  check(result, 'fchmodat', Buffer.from(name, 'latin1'));
}

export function renameAt(
  fromDir: number,
  from: string,
  toDir: number,
  to: string,
  flags = 0,
): void {
  const result: unknown = sys.renameat2(fromDir, cstr(from), toDir, cstr(to), flags);
  check(result, 'renameat2', Buffer.from(from, 'latin1'));
}

export function utimensAt(dir: number, name: string, atime: Timespec, mtime: Timespec): void {
  const result: unknown = sys.utimensat(
    dir,
    cstr(name),
    timesOf(atime, mtime),
    AT_SYMLINK_NOFOLLOW,
  );
  check(result, 'utimensat', Buffer.from(name, 'latin1'));
}

/** Times as [seconds, nanoseconds]; nanoseconds may be UTIME_NOW or UTIME_OMIT. */
export type Timespec = readonly [number, number];

function timesOf(atime: Timespec, mtime: Timespec): BigInt64Array {
  return new BigInt64Array([
    BigInt(atime[0]),
    BigInt(atime[1]),
    BigInt(mtime[0]),
    BigInt(mtime[1]),
  ]);
}

/** A kernel file handle: what name_to_handle_at(2) gives and open_by_handle_at(2) takes. */
export interface FileHandle {
  type: number;
  bytes: Buffer;
}

const MAX_HANDLE_SZ = 128;

/** The object's file handle, or undefined where the filesystem has none (EOPNOTSUPP). */
export function nameToHandle(path: Buffer): FileHandle | undefined {
  const raw = Buffer.alloc(8 + MAX_HANDLE_SZ);
  raw.writeUInt32LE(MAX_HANDLE_SZ, 0);
  if (Number(sys.nameToHandleAt(AT_FDCWD, cpath(path), raw, [0], 0)) < 0) {
    if (koffi.errno() === osConstants.errno.EOPNOTSUPP) return undefined;
    throw sysError('name_to_handle_at', path);
  }
  const size = raw.readUInt32LE(0);
  return { type: raw.readInt32LE(4), bytes: Buffer.from(raw.subarray(8, 8 + size)) };
}

/**
 * Opens the object a handle names (O_PATH: no access to its data) on the filesystem of
 * `mountFd`; undefined when it is gone or belongs to another filesystem. Needs
 * CAP_DAC_READ_SEARCH.
 */
export function openByHandle(mountFd: number, handle: FileHandle): number | undefined {
  const raw = Buffer.alloc(8 + handle.bytes.length);
  raw.writeUInt32LE(handle.bytes.length, 0);
  raw.writeInt32LE(handle.type, 4);
  handle.bytes.copy(raw, 8);
  const fd = Number(sys.openByHandleAt(mountFd, raw, O_PATH));
  return fd < 0 ? undefined : fd;
}

/** fallocate(2) on an open file. */
export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  if (Number(sys.fallocate(fd, mode, BigInt(offset), BigInt(length))) < 0) {
    throw sysError('fallocate', Buffer.from(`fd ${fd}`));
  }
}

/** Splits a nanosecond timestamp (as Node's bigint stats give it) into a timespec. */
export function timespec(ns: bigint): Timespec {
  const sec = ns / 1_000_000_000n;
  const nsec = ns % 1_000_000_000n;
  return nsec < 0n
    ? [Number(sec - 1n), Number(nsec + 1_000_000_000n)]
    : [Number(sec), Number(nsec)];
}

const lseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * The next data extent of a file at or after `offset` as [start, end), or undefined when only a
 * hole remains (lseek SEEK_DATA/SEEK_HOLE: sparse files stay sparse through copy-up).
 */
export function nextData(fd: number, offset: number): [number, number] | undefined {
  const start = Number(lseek(fd, BigInt(offset), SEEK_DATA));
  if (start < 0) {
    if (koffi.errno() === osConstants.errno.ENXIO) return undefined;
    throw sysError('lseek', Buffer.from(`fd ${fd}`));
  }
  return [start, Number(lseek(fd, BigInt(start), SEEK_HOLE))];
}
