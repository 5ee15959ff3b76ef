/**
 * The syscalls Node's `fs` lacks, called through koffi (a maintained FFI that ships prebuilt
 * binaries in its npm package): xattrs on the link itself, mknod for whiteouts, renameat2 flags,
 * and utimensat with nanoseconds and UTIME_NOW/UTIME_OMIT. See native-notes/syscalls.md.
 *
 * Paths are Buffers (exact bytes); names are byte strings (latin1). Calls are synchronous: each is
 * one short syscall on metadata, cheaper than a hop through the libuv threadpool.
 */
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';

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
  mknod: libc.func('int mknod(const char *p, uint32_t mode, uint64_t dev)'),
  renameat2: libc.func(
    'int renameat2(int od, const char *o, int nd, const char *n, unsigned int f)',
  ),
  utimensat: libc.func('int utimensat(int dirfd, const char *p, const int64_t *times, int flags)'),
};

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

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

export function mknod(path: Buffer, mode: number, rdev: number): void {
  check(sys.mknod(cpath(path), mode, rdev), 'mknod', path);
}

export function rename(from: Buffer, to: Buffer, flags = 0): void {
  check(sys.renameat2(AT_FDCWD, cpath(from), AT_FDCWD, cpath(to), flags), 'renameat2', from);
}

/** Times as [seconds, nanoseconds]; nanoseconds may be UTIME_NOW or UTIME_OMIT. */
export type Timespec = readonly [number, number];

export function utimens(path: Buffer, atime: Timespec, mtime: Timespec): void {
  const times = new BigInt64Array([
    BigInt(atime[0]),
    BigInt(atime[1]),
    BigInt(mtime[0]),
    BigInt(mtime[1]),
  ]);
  check(sys.utimensat(AT_FDCWD, cpath(path), times, AT_SYMLINK_NOFOLLOW), 'utimensat', path);
}

/** Splits a nanosecond timestamp (as Node's bigint stats give it) into a timespec. */
export function timespec(ns: bigint): Timespec {
  const sec = ns / 1_000_000_000n;
  const nsec = ns % 1_000_000_000n;
  return nsec < 0n
    ? [Number(sec - 1n), Number(nsec + 1_000_000_000n)]
    : [Number(sec), Number(nsec)];
}
