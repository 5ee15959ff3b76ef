/**
 * The FUSE adapter: fuse-native's callback ops over the overlay's async methods. This is the one
 * place where errors become -errno: FsError and Node's fs errors by their code, anything else is a
 * bug and becomes EIO with a log line (the mount must never die of it).
 */
import type { Attributes, Caller, Overlay } from '../core/overlay.js';
import { errnoOf } from '../core/errors.js';
import { fromFusePath, parentOf, toFusePath } from '../core/paths.js';
import type { FallocateOp } from './binding.js';
import type {
  CallerContext,
  Changed,
  Done,
  FuseOps,
  FuseStat,
  FuseStatfs,
  FuseTime,
  Reply,
} from './ops.js';
import type { MountStats } from './stats.js';

const EIO = 5;
/** Names sent ahead with a getattr: a bench tree's directory of 100 files costs one round trip. */
const ATTRIBUTES_AHEAD = 128;

export interface AdapterOptions {
  /** The caller of the request being served; valid synchronously at op entry. */
  context: () => CallerContext;
  /** Where unexpected errors are reported. */
  log?: (message: string) => void;
  /** Times every request by op (--stats); without it the ops are not wrapped at all. */
  stats?: MountStats;
  /** The mount's effective options, served as the xattr OPTIONS_XATTR of the mount's root. */
  options?: () => Record<string, unknown>;
  /** Where the kernel's cached directory attributes are kept exact (FuseBinding). */
  directories?: DirectoryAttributes;
}

/** Told, before the request is answered, what changes directories behind the kernel's back. */
export interface DirectoryAttributes {
  /** Directories a copy-up changed (FUSE paths). */
  directoriesChanged(paths: string[]): void;
  /** A rename of `from` to `to`, or an rmdir (`to` null). */
  directoryMoved(from: string, to: string | null): void;
}

/** Read by `unionmount inspect --mount`; a virtual xattr, never stored and never listed. */
export const OPTIONS_XATTR = 'user.unionmount.options';

export function createOps(overlay: Overlay, options: AdapterOptions): FuseOps & FallocateOp {
  const log =
    options.log ?? ((message: string) => process.stderr.write(`unionmount: ${message}\n`));
  const { directories } = options;
  if (directories) {
    overlay.onDirectoriesChanged = (paths) => directories.directoriesChanged(paths.map(toFusePath));
  }

  function toErrno(err: unknown, op: string): number {
    const errno = errnoOf(err);
    if (errno !== undefined) return -errno;
    log(`${op}: unexpected error, answered EIO: ${(err as Error)?.stack ?? String(err)}`);
    return -EIO;
  }

  /** Runs an op and replies once with its value or its errno. */
  function serve<T>(op: string, reply: Reply<T>, task: () => Promise<T>): void {
    task().then(
      (value) => reply(0, value),
      (err: unknown) => reply(toErrno(err, op)),
    );
  }

  function done(op: string, cb: Done, task: () => Promise<void>): void {
    serve(op, (errno) => cb(errno), task);
  }

  /** The attributes after a change (libfuse asks for them next), read like any getattr; none if
   * that fails, and the change is still answered as done. */
  const attributesAfter = (read: () => Promise<Attributes>): Promise<FuseStat | undefined> =>
    read().then(toFuseStat, () => undefined);

  /** A change, answered with the attributes after it. */
  function change(
    op: string,
    cb: Changed,
    task: () => Promise<void>,
    after: () => Promise<Attributes>,
  ): void {
    serve<FuseStat | undefined>(op, cb, async () => {
      await task();
      return attributesAfter(after);
    });
  }
  const attributesOf = (path: string) => () => overlay.getattr(rel(path));

  const caller = (): Caller => {
    const { uid, gid } = options.context();
    return { uid, gid };
  };
  const rel = fromFusePath;

  const ops: FuseOps & FallocateOp = {
    init: (cb) => cb(0),
    statfs: (_path, reply) => serve('statfs', reply, async () => toStatfs(await overlay.statfs())),
    getattr: (path, reply) =>
      serve(
        'getattr',
        (errno, answer) => reply(errno, answer?.stat, answer?.ahead),
        async () => {
          const attributes = await overlay.getattr(rel(path));
          const stat = toFuseStat(attributes);
          if (!attributes.volatile) stat.lower = await overlay.lendable(rel(path));
          const ahead = await overlay.attributesAhead(rel(path), ATTRIBUTES_AHEAD);
          return { stat, ahead: new Map([...ahead].map(([name, a]) => [name, toFuseStat(a)])) };
        },
      ),
    fgetattr: (_path, fh, reply) =>
      serve('fgetattr', reply, async () => toFuseStat(await overlay.files.fgetattr(fh))),
    access: (path, mode, cb) => done('access', cb, () => overlay.access(rel(path), mode)),
    readlink: (path, reply) => serve('readlink', reply, () => overlay.readlink(rel(path))),
    readdir: (path, reply) => {
      listing(overlay, rel(path)).then(
        ({ names, stats }) => reply(0, names, stats),
        (err: unknown) => reply(toErrno(err, 'readdir')),
      );
    },
    open: (path, flags, reply) => serve('open', reply, () => overlay.open(rel(path), flags)),
    create: (path, flags, mode, reply) => {
      const who = caller();
      serve(
        'create',
        (errno, created) => reply(errno, created?.fh, created?.after),
        async () => {
          const fh = await overlay.create(rel(path), flags, mode, who);
          return { fh, after: await attributesAfter(() => overlay.files.fgetattr(fh)) };
        },
      );
    },
    read: (_path, fh, buf, length, position, reply) =>
      serve('read', reply, () => overlay.files.read(fh, buf, length, position)),
    write: (_path, fh, buf, length, position, reply) =>
      serve('write', reply, () => overlay.files.write(fh, buf, length, position)),
    fsync: (_path, datasync, fh, cb) => done('fsync', cb, () => overlay.files.fsync(fh, datasync)),
    release: (_path, fh, cb) => done('release', cb, () => overlay.files.release(fh)),
    truncate: (path, size, cb) =>
      change('truncate', cb, () => overlay.truncate(rel(path), size), attributesOf(path)),
    ftruncate: (_path, fh, size, cb) =>
      change(
        'ftruncate',
        cb,
        () => overlay.files.ftruncate(fh, size),
        () => overlay.files.fgetattr(fh),
      ),
    fallocate: (_path, fh, mode, offset, length, cb) =>
      done('fallocate', cb, () => overlay.files.fallocate(fh, mode, offset, length)),
    mkdir: (path, mode, cb) => {
      const who = caller();
      change('mkdir', cb, () => overlay.mkdir(rel(path), mode, who), attributesOf(path));
    },
    mknod: (path, mode, rdev, cb) => {
      const who = caller();
      change('mknod', cb, () => overlay.mknod(rel(path), mode, rdev, who), attributesOf(path));
    },
    symlink: (target, path, cb) => {
      const who = caller();
      change('symlink', cb, () => overlay.symlink(target, rel(path), who), attributesOf(path));
    },
    link: (target, path, cb) =>
      change('link', cb, () => overlay.link(rel(target), rel(path)), attributesOf(path)),
    rmdir: (path, cb) =>
      done('rmdir', cb, async () => {
        await overlay.rmdir(rel(path));
        directories?.directoryMoved(path, null);
      }),
    unlink: (path, cb) => done('unlink', cb, () => overlay.unlink(rel(path))),
    rename: (src, dest, cb) =>
      done('rename', cb, async () => {
        await overlay.rename(rel(src), rel(dest));
        directories?.directoryMoved(src, dest);
      }),
    chmod: (path, mode, cb) =>
      change('chmod', cb, () => overlay.chmod(rel(path), mode), attributesOf(path)),
    chown: (path, uid, gid, cb) =>
      change('chown', cb, () => overlay.chown(rel(path), uid, gid), attributesOf(path)),
    utimens: (path, atime, mtime, cb) =>
      change(
        'utimens',
        cb,
        () => overlay.utimens(rel(path), timespec(atime), timespec(mtime)),
        attributesOf(path),
      ),
    getxattr: (path, name, reply) => {
      const who = caller();
      if (path === '/' && name === OPTIONS_XATTR && options.options) {
        return reply(0, Buffer.from(JSON.stringify(options.options())));
      }
      serve('getxattr', reply, () => overlay.getxattr(rel(path), name, who));
    },
    listxattr: (path, reply) => {
      const who = caller();
      serve('listxattr', reply, () => overlay.listxattr(rel(path), who));
    },
    setxattr: (path, name, value, flags, cb) => {
      const who = caller();
      done('setxattr', cb, () => overlay.setxattr(rel(path), name, value, flags, who));
    },
    removexattr: (path, name, cb) => {
      const who = caller();
      done('removexattr', cb, () => overlay.removexattr(rel(path), name, who));
    },
  };
  return options.stats ? timed(ops, options.stats) : ops;
}

type AnyOp = (...args: unknown[]) => void;

/** Every op with its reply (always the last argument) timed from call to reply. */
function timed<T extends object>(ops: T, stats: MountStats): T {
  const wrapped: Record<string, AnyOp> = {};
  for (const [name, op] of Object.entries(ops) as [string, AnyOp][]) {
    wrapped[name] = (...args) => {
      const start = performance.now();
      const reply = args[args.length - 1] as AnyOp;
      args[args.length - 1] = (errno: unknown, ...rest: unknown[]) => {
        stats.request(name, (performance.now() - start) * 1000, Number(errno));
        reply(errno, ...rest);
      };
      op(...args);
    };
  }
  return wrapped as T;
}

/** The merged listing with `.` and `..`, each with the type and inode number readdir reports. */
async function listing(
  overlay: Overlay,
  path: string,
): Promise<{ names: string[]; stats: FuseStat[] }> {
  const dir = await overlay.entry(path);
  const parent = path === '' ? dir : await overlay.entry(parentOf(path));
  const entries = await overlay.readdir(path);
  const names = ['.', '..', ...entries.map((e) => e.path.slice(e.path.lastIndexOf('/') + 1))];
  const stats = [dir, parent, ...entries].map((e) => direntStat(e.type, e.ino));
  return { names, stats };
}

const ZERO = 0n;

/** readdir only reads the type and the inode number. */
function direntStat(type: number, ino: number): FuseStat {
  return {
    mode: type,
    ino,
    uid: 0,
    gid: 0,
    size: 0,
    dev: 0,
    nlink: 0,
    rdev: 0,
    blksize: 0,
    blocks: 0,
    atimeNs: ZERO,
    mtimeNs: ZERO,
    ctimeNs: ZERO,
  };
}

function toFuseStat({ stat, ino, nlink, volatile, lower, settled }: Attributes): FuseStat {
  return {
    mode: Number(stat.mode),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    size: Number(stat.size),
    dev: Number(stat.dev),
    nlink,
    ino,
    rdev: Number(stat.rdev),
    blksize: Number(stat.blksize),
    blocks: Number(stat.blocks),
    atimeNs: stat.atimeNs,
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
    volatile,
    lower,
    settled,
  };
}

function toStatfs(s: import('node:fs').BigIntStatsFs): FuseStatfs {
  return {
    bsize: Number(s.bsize),
    frsize: Number(s.bsize),
    blocks: Number(s.blocks),
    bfree: Number(s.bfree),
    bavail: Number(s.bavail),
    files: Number(s.files),
    ffree: Number(s.ffree),
    favail: Number(s.ffree),
    fsid: 0,
    flag: 0,
    namemax: 255,
  };
}

function timespec(time: FuseTime): readonly [number, number] {
  return [time.sec, time.nsec];
}
