/**
 * The FUSE binding: fuse-native 2.2.6 as patched by patches/fuse-native+2.2.6.patch, adapted to
 * the contract in ./ops.ts. See native-notes/binding.md for what the patch changes and why.
 *
 * What this layer adds on top of the patched addon:
 * - its own dispatch (no per-op timers, no arg copying), calling FuseOps with the documented shapes;
 * - a once-guard on every reply, and EIO (plus one log line) for a throw, a rejected promise or a
 *   reply value that is not an errno, so neither the process nor the kernel request is ever lost;
 * - getxattr/listxattr size probes and ERANGE, ENODATA for a missing value;
 * - the -o option string, built here (stock fuse-native drops 0 and lacks most options);
 * - promise mount/unmount, where unmount reports EBUSY rather than detaching lazily.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { mountAt } from './mounts.js';
import type { CallerContext, FuseOps, FuseStat, FuseStatfs } from './ops.js';

const require = createRequire(import.meta.url);

type NativeFn = (...args: unknown[]) => unknown;
interface NativeBinding {
  [name: string]: unknown;
  fuse_native_get_context?: NativeFn;
  fuse_native_thread_count: () => number;
  fuse_native_answered: () => [number, number, number, number, number];
  fuse_native_set_features: (thread: Buffer | null, features: number, attrTimeout: number) => void;
  fuse_native_dirs_changed: (thread: Buffer, paths: string[]) => void;
  fuse_native_dirs_moved: (thread: Buffer, from: string, to: string | null) => void;
  fuse_native_unmount: (mnt: string, thread: Buffer | null) => void;
  offsetof_fuse_thread_locals_t_ctx: number;
}
interface FuseNativeBase {
  readonly mnt: string;
  _thread: Buffer | null;
  _openCallback: ((err: Error | null) => void) | null;
  open(cb: (err: Error | null) => void): void;
  _fuseOptions(): string;
  _makeHandlerArray(): unknown[];
}
type FuseNativeClass = (new (mnt: string, ops: object, opts: object) => FuseNativeBase) & {
  binding: NativeBinding;
};

/** Builds the patched addon where the shipped one does not load (another CPU or libc). */
const BUILD = `node ${fileURLToPath(new URL('../../scripts/build-binding.mjs', import.meta.url))}`;

const Fuse = loadFuseNative();
const native = Fuse.binding;
if (typeof native.fuse_native_get_context !== 'function') {
  // node-gyp-build found the stock prebuild: every fix below would silently be missing.
  throw new Error(`fuse-native is not the patched build; run: ${BUILD}`);
}

function loadFuseNative(): FuseNativeClass {
  try {
    return require('fuse-native') as FuseNativeClass;
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]!;
    const fix = /libfuse\.so/.test(reason) ? 'apt-get install libfuse2' : BUILD;
    throw new Error(`the FUSE binding does not load (${reason}); fix: ${fix}`);
  }
}

const { EIO, ERANGE, ENODATA } = constants.errno;
const NS = 1_000_000_000n;
const STAT_FIELDS = 16;
/** libfuse copies the -o string into a 1024-byte buffer (fuse-native.c). */
const MAX_OPTIONS = 1023;

/** Requests the addon answered without the ops, counted since it loaded. */
export interface AnsweredInBinding {
  lookups: number;
  reads: number;
  /** getattr, setattr and security.capability of files passed through */
  attributes: number;
  /** lookups of names a directory made through the mount does not hold */
  absent: number;
  /** lower files opened read-only from their real paths sent ahead (`FuseStat.lower`) */
  opens: number;
}

/** An open file handed to the addon: its real fd and the inode number the ops show for it. */
export interface HandedFile {
  fd: number;
  ino: number;
}

/** Not in ops.ts (optional in the patch): fallocate(2) on an open file. */
export interface FallocateOp {
  fallocate?(
    path: string | null,
    fh: number,
    mode: number,
    offset: number,
    length: number,
    done: (errno: number) => void,
  ): void;
}

export interface MountOptions {
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /** Seconds; 0 is passed through (stock fuse-native drops it). */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  autoUnmount?: boolean;
  kernelCache?: boolean;
  autoCache?: boolean;
  /** The kernel keeps directory listings and symlink targets (exact while the mount is the only
   * writer: each change through it drops the directory's listing). */
  cacheListings?: boolean;
  /** After an open or create: the real fd the kernel may then read and write itself, with no
   * request (FUSE passthrough: Linux 6.9+ and root), and the inode number the ops show for it; or
   * undefined for I/O through the ops. While such a file is open, the addon also answers its
   * getattr, its mode, owner and times changes and its security.capability from the fd. */
  passthrough?: (fh: number) => HandedFile | undefined;
  /** After an open: the handle's fd and inode number if the binding may own the handle (its
   * number has bit 2^52 set): the addon then answers its reads, fstat, fsync and release itself,
   * and closes the fd. Only for files that reading changes in no way the ops track. */
  lend?: (fh: number) => HandedFile | undefined;
  fsname?: string;
  subtype?: string;
  debug?: boolean;
  /** Extra raw libfuse options, appended as given. */
  extra?: string[];
}

export interface BindingOptions extends MountOptions {
  /** Unmount a dead mount (ENOTCONN) at the mountpoint first. */
  force?: boolean;
  mkdir?: boolean;
  /** One line per problem (thrown op, bad reply, double reply). Default: stderr. */
  log?: (line: string) => void;
}

/** fuse_opt splits on commas and takes a backslash as escape. */
const escapeOpt = (v: string): string => v.replace(/[\\,]/g, (c) => '\\' + c);

/** Reads and writes of up to 1 MiB a request (the patched channel negotiates FUSE_MAX_PAGES). */
const MAX_REQUEST = 1 << 20;

/** The patched channel's features (FUSE_NATIVE_FEATURE_* in the addon). */
const FEATURE_BIG_REQUESTS = 1;
const FEATURE_CACHE = 2;
const FEATURE_PASSTHROUGH = 4;

/** The libfuse -o list. Always on: big_writes and 1 MiB max_read/max_write, use_ino (our st_ino
 * reaches the kernel), hard_remove (no .fuse_hidden files; needs the nullpath patch), nonempty. */
export function mountOptions(o: MountOptions = {}): string[] {
  const opts = ['big_writes', 'use_ino', 'hard_remove', 'nonempty', `max_read=${MAX_REQUEST}`];
  opts.push(`max_write=${MAX_REQUEST}`);
  opts.push(`fsname=${escapeOpt(o.fsname ?? 'unionmount')}`);
  opts.push(`subtype=${escapeOpt(o.subtype ?? 'unionmount')}`);
  if (o.allowOther) opts.push('allow_other');
  if (o.defaultPermissions) opts.push('default_permissions');
  if (o.autoUnmount) opts.push('auto_unmount');
  if (o.kernelCache) opts.push('kernel_cache');
  // auto_cache checks mtime and size at every open, not once per attr_timeout: a write through
  // another name of a hard link must drop the pages.
  if (o.autoCache) opts.push('auto_cache', 'ac_attr_timeout=0');
  if (o.debug) opts.push('debug');
  if (o.attrTimeout !== undefined) opts.push(`attr_timeout=${o.attrTimeout}`);
  if (o.entryTimeout !== undefined) opts.push(`entry_timeout=${o.entryTimeout}`);
  if (o.negativeTimeout !== undefined) opts.push(`negative_timeout=${o.negativeTimeout}`);
  return opts.concat(o.extra ?? []);
}

function writeNs(arr: Float64Array, i: number, ns: bigint): void {
  let sec = ns / NS;
  let nsec = ns - sec * NS;
  if (nsec < 0n) {
    nsec += NS;
    sec -= 1n;
  }
  arr[i] = Number(sec);
  arr[i + 1] = Number(nsec);
}

/** The kernel's readahead window (128 KiB by default) caps a sequential read's requests below
 * MAX_REQUEST; root may widen it in sysfs. Called during INIT: the INIT reply then keeps the wider
 * window (the kernel takes the smaller of it and the reply's). Never a request to the mount: a
 * daemon killed while waiting on its own mount would never exit. Best effort: rootless mounts
 * keep 128 KiB. */
function readAheadWholeRequests(mnt: string): void {
  const dev = mountAt(mnt)?.device;
  try {
    if (dev) writeFileSync(`/sys/class/bdi/${dev}/read_ahead_kb`, String(MAX_REQUEST / 1024));
  } catch {
    // not root, or no sysfs: the default window
  }
}

/** The patched addon's stat layout: 16 float64 (exact to 2^53), times as seconds + ns. */
function writeStat(arr: Float64Array, off: number, st: FuseStat): void {
  arr[off] = st.mode;
  arr[off + 1] = st.uid;
  arr[off + 2] = st.gid;
  arr[off + 3] = st.size;
  arr[off + 4] = st.dev;
  arr[off + 5] = st.nlink;
  arr[off + 6] = st.ino;
  arr[off + 7] = st.rdev;
  arr[off + 8] = st.blksize;
  arr[off + 9] = st.blocks;
  writeNs(arr, off + 10, st.atimeNs);
  writeNs(arr, off + 12, st.mtimeNs);
  writeNs(arr, off + 14, st.ctimeNs);
}

/** A getattr answer: the stat, then 1 when the kernel must not cache it (`FuseStat.volatile`),
 * then 1 when the binding may keep it (`FuseStat.settled`). */
function statArray(st: FuseStat | undefined): Float64Array {
  if (typeof st !== 'object' || st === null) throw new TypeError('no stat in a successful reply');
  const arr = new Float64Array(STAT_FIELDS + 2);
  writeStat(arr, 0, st);
  arr[STAT_FIELDS] = st.volatile === true ? 1 : 0;
  arr[STAT_FIELDS + 1] = st.settled === true ? 1 : 0;
  return arr;
}

function statArrays(stats: FuseStat[]): Float64Array {
  const arr = new Float64Array(STAT_FIELDS * stats.length);
  stats.forEach((st, i) => writeStat(arr, STAT_FIELDS * i, st));
  return arr;
}

function statfsArray(s: FuseStatfs | undefined): Float64Array {
  if (typeof s !== 'object' || s === null) throw new TypeError('no statfs in a successful reply');
  const f = [s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail];
  return Float64Array.from([...f, s.fsid, s.flag, s.namemax]);
}

/** One line: the message and the frame that threw. */
function describe(v: unknown): string {
  if (v instanceof Error)
    return (v.stack ?? v.message)
      .split('\n', 2)
      .map((s) => s.trim())
      .join(' ');
  try {
    return typeof v === 'string' ? v : String(JSON.stringify(v));
  } catch {
    return String(v);
  }
}

/** Sends the reply to the worker: an errno (or a byte count, for the ops in POSITIVE) and the
 * values the op's signal takes. */
type Post = (res: unknown, ...values: unknown[]) => void;
/** The ops whose successful answer is a byte count. */
const POSITIVE = new Set(['read', 'write', 'getxattr', 'listxattr']);
type Args = readonly unknown[];
type Ops = FuseOps & FallocateOp;
type Adapter = (o: Ops, a: Args, post: Post, b: FuseBinding) => unknown;

const str = (v: unknown): string => v as string;
const maybe = (v: unknown): string | null => v as string | null;
const num = (v: unknown): number => v as number;
const buf = (v: unknown): Buffer => v as Buffer;
const u64 = (lo: unknown, hi: unknown): number => num(lo) + num(hi) * 2 ** 32;

/** Reply callbacks run in the op's own async context: a throw there must become EIO, not an
 * uncaught exception. post() with a non-number logs it and answers EIO. */
const reply =
  <A extends unknown[]>(post: Post, fn: (...a: A) => void) =>
  (...a: A): void => {
    try {
      fn(...a);
    } catch (err) {
      post(err);
    }
  };
const done =
  (post: Post) =>
  (errno: number): void =>
    post(errno);
/** A reply carrying a value: encode() runs only on success, and may throw (→ EIO). */
const withValue = <T>(post: Post, encode: (v: T | undefined) => unknown) =>
  reply(post, (errno: number, v?: T) => (errno === 0 ? post(0, encode(v)) : post(errno)));
const handle = (fh: number | undefined): number => {
  if (!Number.isSafeInteger(fh) || (fh as number) < 0) throw new TypeError(`bad handle ${fh}`);
  return fh as number;
};
/** The attributes a change op answered with, if any, as the addon takes them. */
const afterArray = (after: FuseStat | undefined): Float64Array | undefined =>
  after === undefined ? undefined : statArray(after);
/** create: the handle, the fd the channel may pass through (-1: none), the new file's
 * attributes if the op gave them (see `changed`), and its inode number. */
const created = (b: FuseBinding, post: Post) =>
  reply(post, (errno: number, fh?: number, after?: FuseStat) => {
    if (errno !== 0) return post(errno);
    const passed = b.options.passthrough?.(handle(fh));
    post(0, handle(fh), passed?.fd ?? -1, afterArray(after), passed?.ino ?? 0);
  });
/** open: the handle, the fd the channel may pass through (-1: none), a lent handle's fd (-1:
 * none), and the inode number of either. */
const opened = (b: FuseBinding, post: Post) =>
  reply(post, (errno: number, fh?: number) => {
    if (errno !== 0) return post(errno);
    const passed = b.options.passthrough?.(handle(fh));
    const lent = b.options.lend?.(handle(fh));
    post(0, handle(fh), passed?.fd ?? -1, lent?.fd ?? -1, (passed ?? lent)?.ino ?? 0);
  });
/** A change: the attributes after it, if the op gave them, answer the getattr libfuse sends next
 * in the same request (one round trip to JS fewer). */
const changed = (post: Post) =>
  reply(post, (errno: number, after?: FuseStat) => {
    if (errno !== 0) return post(errno);
    post(0, afterArray(after));
  });
/** read/write: a byte count between 0 and the request length, or a negative errno. */
const count = (post: Post, len: number) => (errno: number, n?: number) => {
  if (errno !== 0) return post(errno);
  if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > len) {
    return post(new TypeError(`bad byte count ${String(n)}`));
  }
  post(n);
};

/** Each native op: the argument order fuse-native.c passes, mapped to the ops.ts shapes. */
const ADAPTERS: Record<string, Adapter> = {
  init: (o, _a, post, b) => {
    b.onInit();
    return o.init ? o.init(done(post)) : post(0);
  },
  access: (o, a, post) => o.access(str(a[0]), num(a[1]), done(post)),
  statfs: (o, a, post) => o.statfs(str(a[0]), withValue(post, statfsArray)),
  getattr: (o, a, post) =>
    o.getattr(
      str(a[0]),
      reply(post, (errno: number, stat?: FuseStat, ahead?: Map<string, FuseStat>) => {
        if (errno !== 0) return post(errno);
        const names = ahead === undefined ? [] : [...ahead.keys()];
        const stats = [...(ahead?.values() ?? [])];
        const lowers = [stat, ...stats].map((st) => st?.lower ?? null);
        const anyLower = lowers.some((lower) => lower !== null);
        post(0, statArray(stat), names, statArrays(stats), anyLower ? lowers : []);
      }),
    ),
  fgetattr: (o, a, post) => o.fgetattr(maybe(a[0]), num(a[1]), withValue(post, statArray)),
  flush: (o, a, post) => o.flush!(maybe(a[0]), num(a[1]), done(post)),
  fsync: (o, a, post) => o.fsync(maybe(a[0]), num(a[1]) !== 0, num(a[2]), done(post)),
  readdir: (o, a, post) => {
    // libfuse passes no path for a directory removed while open: list nothing.
    if (a[0] === null) return post(0, [], undefined);
    return o.readdir(
      str(a[0]),
      reply(post, (errno: number, names?: string[], stats?: FuseStat[]) => {
        if (errno !== 0) return post(errno);
        if (!Array.isArray(names)) return post(new TypeError('readdir: no names'));
        const withStats = Array.isArray(stats) && stats.length === names.length;
        post(0, names, withStats ? statArrays(stats) : undefined);
      }),
    );
  },
  truncate: (o, a, post) => o.truncate(str(a[0]), u64(a[1], a[2]), changed(post)),
  ftruncate: (o, a, post) => o.ftruncate(maybe(a[0]), num(a[1]), u64(a[2], a[3]), changed(post)),
  utimens: (o, a, post) =>
    o.utimens(
      str(a[0]),
      { sec: num(a[1]), nsec: num(a[2]) },
      { sec: num(a[3]), nsec: num(a[4]) },
      changed(post),
    ),
  readlink: (o, a, post) => o.readlink(str(a[0]), withValue(post, String)),
  chown: (o, a, post) => o.chown(str(a[0]), num(a[1]), num(a[2]), changed(post)),
  chmod: (o, a, post) => o.chmod(str(a[0]), num(a[1]), changed(post)),
  mknod: (o, a, post) => o.mknod(str(a[0]), num(a[1]), num(a[2]), changed(post)),
  // The value points into libfuse's request buffer: hand the op a copy it may keep.
  setxattr: (o, a, post) =>
    o.setxattr(str(a[0]), str(a[1]), Buffer.from(buf(a[2])), num(a[4]), done(post)),
  getxattr: (o, a, post) => {
    const dst = buf(a[2]);
    return o.getxattr(
      str(a[0]),
      str(a[1]),
      reply(post, (errno: number, value?: Buffer) => {
        if (errno !== 0) return post(errno);
        if (!Buffer.isBuffer(value)) return post(-ENODATA);
        if (dst.length === 0) return post(value.length); // size probe
        if (value.length > dst.length) return post(-ERANGE);
        value.copy(dst);
        post(value.length);
      }),
    );
  },
  listxattr: (o, a, post) => {
    const dst = buf(a[1]);
    return o.listxattr(
      str(a[0]),
      reply(post, (errno: number, names?: string[]) => {
        if (errno !== 0) return post(errno);
        const list = names ?? [];
        const size = list.reduce((n, name) => n + name.length + 1, 0);
        if (dst.length === 0) return post(size); // size probe
        if (size > dst.length) return post(-ERANGE);
        let at = 0;
        for (const name of list) {
          at += dst.write(name, at, 'latin1');
          dst[at++] = 0;
        }
        post(size);
      }),
    );
  },
  removexattr: (o, a, post) => o.removexattr(str(a[0]), str(a[1]), done(post)),
  open: (o, a, post, b) => o.open(str(a[0]), num(a[1]), opened(b, post)),
  opendir: (o, a, post) => (o.opendir ? o.opendir(str(a[0]), withValue(post, handle)) : post(0, 0)),
  read: (o, a, post) =>
    o.read(maybe(a[0]), num(a[1]), buf(a[2]), num(a[3]), u64(a[4], a[5]), count(post, num(a[3]))),
  // The buffer points into libfuse memory and is detached after the reply: no keeping it.
  write: (o, a, post) =>
    o.write(maybe(a[0]), num(a[1]), buf(a[2]), num(a[3]), u64(a[4], a[5]), count(post, num(a[3]))),
  release: (o, a, post) => o.release(maybe(a[0]), num(a[1]), done(post)),
  releasedir: (o, a, post) =>
    o.releasedir ? o.releasedir(maybe(a[0]), num(a[1]), done(post)) : post(0),
  // Native order is (path, mode, flags); ops.ts has (path, flags, mode).
  create: (o, a, post, b) => o.create(str(a[0]), num(a[2]), num(a[1]), created(b, post)),
  unlink: (o, a, post) => o.unlink(str(a[0]), done(post)),
  rename: (o, a, post) => o.rename(str(a[0]), str(a[1]), done(post)),
  link: (o, a, post) => o.link(str(a[0]), str(a[1]), changed(post)),
  symlink: (o, a, post) => o.symlink(str(a[0]), str(a[1]), changed(post)),
  mkdir: (o, a, post) => o.mkdir(str(a[0]), num(a[1]), changed(post)),
  rmdir: (o, a, post) => o.rmdir(str(a[0]), done(post)),
  fallocate: (o, a, post) =>
    o.fallocate
      ? o.fallocate(maybe(a[0]), num(a[1]), num(a[2]), num(a[3]), num(a[4]), done(post))
      : post(-constants.errno.EOPNOTSUPP),
};

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const busy = /busy/i.test(stderr);
      const e = new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`);
      reject(Object.assign(e, { code: busy ? 'EBUSY' : 'EUNMOUNT' }));
    });
  });
}

export class FuseBinding extends Fuse {
  readonly fsOps: Ops;
  readonly options: BindingOptions;
  private readonly log: (line: string) => void;
  /** The thread-locals buffer of the request being dispatched; holds its caller context. */
  private locals: Buffer | null = null;
  private mounted = false;

  constructor(mnt: string, ops: Ops, options: BindingOptions = {}) {
    super(mnt, ops, { timeout: false, force: options.force, mkdir: options.mkdir });
    this.fsOps = ops;
    this.options = options;
    this.log = options.log ?? ((line) => process.stderr.write(`unionmount fuse: ${line}\n`));
  }

  /** The calling process of the op being entered. Read it synchronously at op entry. */
  context(): CallerContext {
    const l = this.locals;
    if (l === null) return { uid: 0, gid: 0, pid: 0, umask: 0 };
    const at = native.offsetof_fuse_thread_locals_t_ctx;
    const [uid, gid, pid, umask] = [0, 4, 8, 12].map((d) => l.readUInt32LE(at + d));
    return { uid: uid!, gid: gid!, pid: pid! | 0, umask: umask! };
  }

  /** Requests the addon answered itself (all mounts): lookups from attributes sent ahead with a
   * getattr, reads of lent handles (`lend`), attribute requests of files passed through. */
  static answered(): AnsweredInBinding {
    const [lookups, reads, attributes, absent, opens] = native.fuse_native_answered();
    return { lookups, reads, attributes, absent, opens };
  }

  /**
   * Directories whose attributes changed with no request on them (a copy-up: FUSE paths): the
   * kernel drops what it keeps of them before this returns. Call it before answering the request.
   */
  directoriesChanged(paths: string[]): void {
    if (this._thread !== null) native.fuse_native_dirs_changed(this._thread, paths);
  }

  /** A rename (`to`) or an rmdir (`to` null) of the FUSE path `from`, before it is answered: what
   * the addon knows of directories at and below it moves along. */
  directoryMoved(from: string, to: string | null): void {
    if (this._thread !== null) native.fuse_native_dirs_moved(this._thread, from, to);
  }

  /** Live per-worker dispatch slots in the addon (flat under load: nothing leaks). */
  static threadCount(): number {
    return native.fuse_native_thread_count();
  }

  /** The -o list; called by fuse-native's open() just before the mount, so it also hands the
   * channel its features for that mount. */
  override _fuseOptions(): string {
    const features =
      FEATURE_BIG_REQUESTS |
      (this.options.cacheListings ? FEATURE_CACHE : 0) |
      (this.options.passthrough !== undefined ? FEATURE_PASSTHROUGH : 0);
    native.fuse_native_set_features(this._thread, features, this.options.attrTimeout ?? 1);
    const s = '-o' + mountOptions(this.options).join(',');
    if (s.length > MAX_OPTIONS) throw new Error(`mount options longer than ${MAX_OPTIONS} bytes`);
    return s;
  }

  /** Replaces fuse-native's handlers; called from the Fuse constructor (before our fields). */
  override _makeHandlerArray(): unknown[] {
    const handlers: unknown[] = [];
    for (const [name, adapter] of Object.entries(ADAPTERS)) {
      const op = native[`op_${name}`] as number;
      const signal = native[`fuse_native_signal_${name}`] as NativeFn;
      const positive = POSITIVE.has(name);
      handlers[op] = (locals: Buffer, _op: number, ...args: unknown[]) =>
        this.dispatch(name, positive, adapter, signal, locals, args);
    }
    return handlers;
  }

  /** fuse-native's init handler resolved the mount callback; keep doing that. */
  onInit(): void {
    readAheadWholeRequests(this.mnt);
    const cb = this._openCallback;
    this._openCallback = null;
    if (cb) process.nextTick(cb, null);
  }

  private dispatch(
    name: string,
    positive: boolean,
    adapter: Adapter,
    signal: NativeFn,
    locals: Buffer,
    args: Args,
  ) {
    this.locals = locals;
    let replied = false;
    const post: Post = (res, ...values) => {
      if (replied) return this.log(`${name}: reply called more than once; ignored`);
      replied = true;
      const ok = typeof res === 'number' && Number.isInteger(res) && res >= -4095;
      if (!ok || (res > 0 && !positive)) {
        this.log(`${name}: bad reply ${describe(res)}; answering EIO`);
        return process.nextTick(signal, locals, -EIO);
      }
      process.nextTick(signal, locals, res, ...values);
    };
    const fail = (how: string, err: unknown): void => {
      this.log(`${name}: op ${how}: ${describe(err)}`);
      if (!replied) post(-EIO);
    };
    try {
      const ret = adapter(this.fsOps, args, post, this);
      if (ret instanceof Promise) ret.catch((err: unknown) => fail('rejected', err));
    } catch (err) {
      fail('threw', err);
    }
  }

  mount(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.open((err) => {
        if (err) return reject(err);
        this.mounted = true;
        resolve();
      });
    });
  }

  /** Plain `fusermount -u` first, so a busy mount fails with code EBUSY; lazy only if asked. */
  async unmount(opts: { lazy?: boolean } = {}): Promise<void> {
    if (!this.mounted) return;
    try {
      await run('fusermount', ['-u', this.mnt]);
    } catch (err) {
      if (!opts.lazy) throw err;
      await run('fusermount', ['-uz', this.mnt]);
    }
    this.mounted = false;
    native.fuse_native_unmount(this.mnt, this._thread); // lets the event loop end
  }
}
