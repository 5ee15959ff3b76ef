// Test-only passthrough filesystem over a real directory, served by FuseBinding in its own
// process (a test process must never serve its own mount: a sync fs call would deadlock).
// Started by harness.ts with fork(); talks over IPC. Env: BINDING_MODULE (the transpiled
// binding), BACKING, MNT, MOUNT_OPTIONS (JSON), INO_OFFSET.
// Names starting with __throw, __error, __twice, __slow misbehave on purpose in getattr.
import fs from 'node:fs';
import { constants } from 'node:os';
import koffi from 'koffi';

const { FuseBinding } = await import(process.env.BINDING_MODULE);
const root = Buffer.from(process.env.BACKING);
const inoOffset = Number(process.env.INO_OFFSET ?? 0);
const { EIO, ENOENT, ENODATA } = constants.errno;

// Node has no utimensat with UTIME_OMIT or exact nanoseconds, and no xattr calls.
const libc = koffi.load('libc.so.6');
const utimensat = libc.func(
  'int utimensat(int dirfd, const uint8_t *path, const uint8_t *times, int flags)',
);
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

const full = (p) => Buffer.concat([root, Buffer.from(p, 'latin1')]);
const cstr = (p) => Buffer.concat([full(p), Buffer.from([0])]);
const errno = (err) => (err ? (typeof err.errno === 'number' ? err.errno : -EIO) : 0);
const base = (p) => p.slice(p.lastIndexOf('/') + 1);

const toStat = (st) => ({
  mode: Number(st.mode),
  uid: Number(st.uid),
  gid: Number(st.gid),
  size: Number(st.size),
  dev: Number(st.dev),
  nlink: Number(st.nlink),
  ino: Number(st.ino) + inoOffset,
  rdev: Number(st.rdev),
  blksize: Number(st.blksize),
  blocks: Number(st.blocks),
  atimeNs: st.atimeNs,
  mtimeNs: st.mtimeNs,
  ctimeNs: st.ctimeNs,
});
const statReply = (cb) => (err, st) => (err ? cb(errno(err)) : cb(0, toStat(st)));
const done = (cb) => (err) => cb(errno(err));

let fuse;
const contexts = new Map(); // path -> caller context seen by create/mkdir
const xattrs = new Map(); // "dev:ino" -> Map(name -> Buffer)

/** New nodes belong to the caller (the kernel does not chown them for us). */
function own(path, ctx, cb) {
  contexts.set(path, ctx);
  return (err) => {
    if (err) return cb(errno(err));
    fs.lchown(full(path), ctx.uid, ctx.gid, (e) => cb(errno(e)));
  };
}

function xattrsOf(path) {
  const st = fs.lstatSync(full(path), { bigint: true });
  const key = `${st.dev}:${st.ino}`;
  if (!xattrs.has(key)) xattrs.set(key, new Map());
  return xattrs.get(key);
}

function misbehave(path, cb) {
  const name = base(path);
  if (name.startsWith('__throw')) throw new Error('getattr threw on purpose (test)');
  if (name.startsWith('__error')) return (cb(new Error('an Error object as errno (test)')), true);
  if (name.startsWith('__twice')) return (cb(-ENOENT), cb(0), true);
  if (name.startsWith('__slow')) return (setTimeout(() => cb(-ENOENT), 500), true);
  return false;
}

const ops = {
  init: (cb) => cb(0),
  statfs: (p, cb) =>
    fs.statfs(full(p), (err, s) =>
      err
        ? cb(errno(err))
        : cb(0, {
            bsize: s.bsize,
            frsize: s.bsize,
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            favail: s.ffree,
            fsid: 0,
            flag: 0,
            namemax: 255,
          }),
    ),
  getattr: (p, cb) => {
    if (misbehave(p, cb)) return;
    fs.lstat(full(p), { bigint: true }, statReply(cb));
  },
  fgetattr: (_p, fh, cb) => fs.fstat(fh, { bigint: true }, statReply(cb)),
  access: (p, mode, cb) => fs.access(full(p), mode, done(cb)),
  readlink: (p, cb) =>
    fs.readlink(full(p), { encoding: 'buffer' }, (err, t) =>
      err ? cb(errno(err)) : cb(0, t.toString('latin1')),
    ),
  readdir: (p, cb) =>
    fs.readdir(full(p), { encoding: 'buffer' }, (err, names) => {
      if (err) return cb(errno(err));
      const dir = full(p === '/' ? '' : p);
      const stats = [];
      const kept = [];
      for (const n of names) {
        try {
          const st = fs.lstatSync(Buffer.concat([dir, Buffer.from('/'), n]), { bigint: true });
          stats.push(toStat(st));
          kept.push(n.toString('latin1'));
        } catch {
          // vanished meanwhile
        }
      }
      cb(0, kept, stats);
    }),
  open: (p, flags, cb) => fs.open(full(p), flags, (err, fd) => cb(errno(err), fd)),
  create: (p, flags, mode, cb) => {
    const ctx = fuse.context();
    fs.open(full(p), flags | constants.O_CREAT, mode, (err, fd) => {
      if (err) return cb(errno(err));
      contexts.set(p, ctx);
      fs.fchown(fd, ctx.uid, ctx.gid, (e) => (e ? cb(errno(e)) : cb(0, fd)));
    });
  },
  read: (_p, fh, buf, len, pos, cb) =>
    fs.read(fh, buf, 0, len, pos, (err, n) => (err ? cb(errno(err)) : cb(0, n))),
  write: (_p, fh, buf, len, pos, cb) =>
    fs.write(fh, buf, 0, len, pos, (err, n) => (err ? cb(errno(err)) : cb(0, n))),
  flush: (_p, _fh, cb) => cb(0),
  fsync: (_p, datasync, fh, cb) => (datasync ? fs.fdatasync : fs.fsync)(fh, done(cb)),
  release: (_p, fh, cb) => fs.close(fh, done(cb)),
  truncate: (p, size, cb) => fs.truncate(full(p), size, done(cb)),
  ftruncate: (_p, fh, size, cb) => fs.ftruncate(fh, size, done(cb)),
  mkdir: (p, mode, cb) => fs.mkdir(full(p), mode, own(p, fuse.context(), cb)),
  mknod: (p, mode, _rdev, cb) => {
    // Regular files and fifos are enough for the tests.
    if ((mode & constants.S_IFMT) !== constants.S_IFREG) return cb(-constants.errno.EPERM);
    fs.writeFile(full(p), '', { flag: 'wx', mode }, own(p, fuse.context(), cb));
  },
  rmdir: (p, cb) => fs.rmdir(full(p), done(cb)),
  unlink: (p, cb) => fs.unlink(full(p), done(cb)),
  rename: (s, d, cb) => fs.rename(full(s), full(d), done(cb)),
  link: (t, n, cb) => fs.link(full(t), full(n), done(cb)),
  symlink: (t, p, cb) => fs.symlink(Buffer.from(t, 'latin1'), full(p), own(p, fuse.context(), cb)),
  chmod: (p, mode, cb) => fs.chmod(full(p), mode, done(cb)),
  chown: (p, uid, gid, cb) => fs.lchown(full(p), uid, gid, done(cb)),
  utimens: (p, atime, mtime, cb) => {
    const t = Buffer.alloc(32);
    t.writeBigInt64LE(BigInt(atime.sec), 0);
    t.writeBigInt64LE(BigInt(atime.nsec), 8);
    t.writeBigInt64LE(BigInt(mtime.sec), 16);
    t.writeBigInt64LE(BigInt(mtime.nsec), 24);
    const r = utimensat(AT_FDCWD, cstr(p), t, AT_SYMLINK_NOFOLLOW);
    cb(r === 0 ? 0 : -koffi.errno());
  },
  getxattr: (p, name, cb) => {
    const v = xattrsOf(p).get(name);
    return v ? cb(0, v) : cb(-ENODATA);
  },
  listxattr: (p, cb) => cb(0, [...xattrsOf(p).keys()]),
  setxattr: (p, name, value, _flags, cb) => {
    xattrsOf(p).set(name, value);
    cb(0);
  },
  removexattr: (p, name, cb) => cb(xattrsOf(p).delete(name) ? 0 : -ENODATA),
};

fuse = new FuseBinding(process.env.MNT, ops, JSON.parse(process.env.MOUNT_OPTIONS ?? '{}'));

function stats() {
  return {
    tasks: fs.readdirSync('/proc/self/task').length,
    locals: FuseBinding.threadCount(),
    fds: fs.readdirSync('/proc/self/fd').length,
  };
}

process.on('message', async (msg) => {
  try {
    if (msg.cmd === 'stats') return process.send({ id: msg.id, value: stats() });
    if (msg.cmd === 'ctx') return process.send({ id: msg.id, value: contexts.get(msg.path) });
    if (msg.cmd === 'unmount') {
      await fuse.unmount({ lazy: msg.lazy });
      process.send({ id: msg.id, value: 'ok' });
      process.exit(0);
    }
  } catch (err) {
    process.send({ id: msg.id, error: { message: err.message, code: err.code } });
  }
});
process.on('SIGTERM', () => fuse.unmount({ lazy: true }).finally(() => process.exit(0)));
process.on('disconnect', () => fuse.unmount({ lazy: true }).finally(() => process.exit(0)));

await fuse.mount();
process.send({ ready: true, pid: process.pid });
