// Before/after figures for native-notes/binding.md: stock fuse-native 2.2.6 (its own prebuild,
// unpatched index.js) against the patched binding, each serving a passthrough of a fresh
// directory with attr/entry timeouts 0. Not part of the test suite.
//   node test/binding/bench.mjs [seconds-per-measure]
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const secs = Number(process.argv[2] ?? 3);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'um-bench-'));

/** A copy of the pristine package (patch reversed, no build/) so the stock prebuild loads. */
function stockPackage() {
  const nm = path.join(work, 'stock/node_modules');
  fs.mkdirSync(nm, { recursive: true });
  const dst = path.join(nm, 'fuse-native');
  fs.cpSync(path.join(repo, 'node_modules/fuse-native'), dst, {
    recursive: true,
    filter: (p) => !p.includes(`${path.sep}build`),
  });
  execFileSync('patch', [
    '-R',
    '-p3',
    '-d',
    dst,
    '-i',
    path.join(repo, 'patches/fuse-native+2.2.6.patch'),
  ]);
  for (const dep of [
    'nanoresource',
    'napi-macros',
    'node-gyp-build',
    'fuse-shared-library',
    'fuse-shared-library-linux',
  ]) {
    fs.symlinkSync(path.join(repo, 'node_modules', dep), path.join(nm, dep));
  }
  return path.join(work, 'stock');
}

const STOCK_DAEMON = `
const fs = require('fs');
const Fuse = require('fuse-native');
const root = process.env.BACKING;
const e = (err) => (err ? err.errno : 0);
const st = (cb) => (err, s) => (err ? cb(err.errno) : cb(0, s));
const ops = {
  getattr: (p, cb) => fs.lstat(root + p, st(cb)),
  fgetattr: (p, fd, cb) => fs.fstat(fd, st(cb)),
  readdir: (p, cb) => fs.readdir(root + p, (err, n) => cb(e(err), n)),
  open: (p, flags, cb) => fs.open(root + p, flags, (err, fd) => cb(e(err), fd)),
  create: (p, mode, cb) => fs.open(root + p, 'w', mode, (err, fd) => cb(e(err), fd)),
  read: (p, fd, buf, len, pos, cb) => fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? err.errno : n)),
  write: (p, fd, buf, len, pos, cb) => fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? err.errno : n)),
  release: (p, fd, cb) => fs.close(fd, (err) => cb(e(err))),
  truncate: (p, size, cb) => fs.truncate(root + p, size, (err) => cb(e(err))),
  unlink: (p, cb) => fs.unlink(root + p, (err) => cb(e(err))),
  mkdir: (p, mode, cb) => fs.mkdir(root + p, mode, (err) => cb(e(err))),
  utimens: (p, a, m, cb) => fs.utimes(root + p, a / 1000, m / 1000, (err) => cb(e(err))),
};
// Stock options cannot pass 0: inject the timeouts through fsname, as fuse-native-facts.md notes.
const fuse = new Fuse(process.env.MNT, ops, { fsname: 'stock,attr_timeout=0,entry_timeout=0' });
fuse.mount((err) => (err ? (console.error(err), process.exit(1)) : process.send({ ready: true })));
process.on('message', () => fuse.unmount(() => process.exit(0)));
`;

// The same minimal passthrough on the patched binding (ops.ts shapes: bigint ns times, fh).
const PATCHED_DAEMON = `
import fs from 'node:fs';
const { FuseBinding } = await import(process.env.BINDING_MODULE);
const root = process.env.BACKING;
const e = (err) => (err ? err.errno : 0);
const conv = (s) => ({ mode: Number(s.mode), uid: Number(s.uid), gid: Number(s.gid), size: Number(s.size), dev: Number(s.dev),
  nlink: Number(s.nlink), ino: Number(s.ino), rdev: Number(s.rdev), blksize: Number(s.blksize),
  blocks: Number(s.blocks), atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs });
const st = (cb) => (err, s) => (err ? cb(err.errno) : cb(0, conv(s)));
const ops = {
  getattr: (p, cb) => fs.lstat(root + p, { bigint: true }, st(cb)),
  fgetattr: (p, fd, cb) => fs.fstat(fd, { bigint: true }, st(cb)),
  readdir: (p, cb) => fs.readdir(root + p, (err, n) => cb(e(err), n)),
  open: (p, flags, cb) => fs.open(root + p, flags, (err, fd) => cb(e(err), fd)),
  create: (p, flags, mode, cb) => fs.open(root + p, flags, mode, (err, fd) => cb(e(err), fd)),
  read: (p, fd, buf, len, pos, cb) => fs.read(fd, buf, 0, len, pos, (err, n) => cb(e(err), n)),
  write: (p, fd, buf, len, pos, cb) => fs.write(fd, buf, 0, len, pos, (err, n) => cb(e(err), n)),
  release: (p, fd, cb) => fs.close(fd, (err) => cb(e(err))),
  truncate: (p, size, cb) => fs.truncate(root + p, size, (err) => cb(e(err))),
  unlink: (p, cb) => fs.unlink(root + p, (err) => cb(e(err))),
  mkdir: (p, mode, cb) => fs.mkdir(root + p, mode, (err) => cb(e(err))),
  utimens: (p, a, m, cb) => fs.utimes(root + p, a.sec, m.sec, (err) => cb(e(err))),
};
const fuse = new FuseBinding(process.env.MNT, ops, { attrTimeout: 0, entryTimeout: 0 });
await fuse.mount();
process.send({ ready: true });
process.on('message', () => fuse.unmount().then(() => process.exit(0)));
`;

function transpileBinding() {
  const out = path.join(repo, 'node_modules/.cache/unionmount-binding-test/fuse');
  fs.mkdirSync(out, { recursive: true });
  for (const name of ['binding', 'ops']) {
    const src = fs.readFileSync(path.join(repo, `src/fuse/${name}.ts`), 'utf8');
    const opts = {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    };
    fs.writeFileSync(path.join(out, `${name}.js`), ts.transpileModule(src, opts).outputText);
  }
  return path.join(out, 'binding.js');
}

async function start(kind) {
  const dir = path.join(work, kind);
  const backing = path.join(dir, 'backing');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(backing, { recursive: true });
  fs.mkdirSync(mnt, { recursive: true });
  fs.writeFileSync(path.join(backing, 'f'), 'x');
  const env = { ...process.env, BACKING: backing, MNT: mnt };
  let child;
  if (kind === 'stock') {
    const cwd = stockPackage();
    fs.writeFileSync(path.join(cwd, 'daemon.cjs'), STOCK_DAEMON);
    child = fork(path.join(cwd, 'daemon.cjs'), [], { cwd, env });
  } else {
    env.BINDING_MODULE = transpileBinding();
    const daemon = path.join(dir, 'daemon.mjs');
    fs.writeFileSync(daemon, PATCHED_DAEMON);
    child = fork(daemon, [], { env });
  }
  await new Promise((resolve, reject) => {
    child.on('message', (m) => m.ready && resolve());
    child.on('exit', (c) => reject(new Error(`${kind} daemon exited ${c}`)));
  });
  return { mnt, child };
}

const PY = `
import os, sys, time
mnt, secs = sys.argv[1], float(sys.argv[2])
def rate(fn):
    n, t0 = 0, time.time()
    while time.time() - t0 < secs:
        fn(n); n += 1
    return n / (time.time() - t0)
f = mnt + '/f'
print('stat/s %.0f' % rate(lambda i: os.stat(f)))
os.mkdir(mnt + '/c')
print('create/s %.0f' % rate(lambda i: os.close(os.open('%s/c/%d' % (mnt, i), os.O_CREAT | os.O_WRONLY, 0o644))))
`;

function measure(mnt) {
  const lines = execFileSync('python3', ['-c', PY, mnt, String(secs)], { encoding: 'utf8' });
  const ddRate = (bs, count) => {
    const r = execFileSync(
      'sh',
      ['-c', `dd if=/dev/zero of=${mnt}/dd bs=${bs} count=${count} 2>&1`],
      {
        encoding: 'utf8',
      },
    );
    return r.trim().split('\n').at(-1).split(', ').at(-1);
  };
  return `${lines}dd bs=4k (64 MiB): ${ddRate('4k', 16384)}\ndd bs=1M (256 MiB): ${ddRate('1M', 256)}\n`;
}

const results = {};
for (const kind of ['stock', 'patched']) {
  const { mnt, child } = await start(kind);
  try {
    results[kind] = measure(mnt);
  } finally {
    child.send({ cmd: 'unmount' });
    await new Promise((r) => child.once('exit', r));
    if (fs.readFileSync('/proc/mounts', 'utf8').includes(mnt))
      execFileSync('fusermount', ['-uz', mnt]);
  }
  console.log(`== ${kind}\n${results[kind]}`);
}
fs.rmSync(work, { recursive: true, force: true });
