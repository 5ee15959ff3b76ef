/**
 * Randomized differential test. For each seed, a sequence of operations (create, write, append,
 * truncate, unlink, mkdir, rmdir, rename of files and directories, symlink, link, chmod, setxattr,
 * mkfifo, and reads) runs on a plain directory seeded with the merged view and on a unionmount
 * mount of layers with whiteouts and opaque directories. Every result (errno included) and the
 * final trees must agree; then again after a remount, then with the upper mounted by kernel
 * overlayfs (redirect_dir=on); and the lowers must be exactly as before.
 *
 * Seeds: UNIONMOUNT_FUZZ_SEEDS (default 20) from UNIONMOUNT_FUZZ_FIRST (default 1), each of
 * UNIONMOUNT_FUZZ_OPS operations (default 200).
 *
 * Where overlayfs documents a difference from a plain filesystem, it is normalised away:
 * - st_ino, st_dev and times are not compared (overlayfs.rst "Inode properties");
 * - directories' st_nlink is not compared (a merged directory reports 1);
 * - the layers hold no hard links between lower files (without index=on, copy-up breaks them);
 * - symlink targets stay inside the tree (a mount and a plain directory have other parents).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  type LayerSpec,
  opaqueDir,
  symlink,
  whiteout,
  writeLayer,
  dir,
} from '../helpers/layers.js';
import { cleanupMounts, kernelOverlay, mountingPossible, union } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import * as native from '../../src/layers/native.js';
import { mulberry32 } from '../helpers/random.mjs';

const SEEDS = Number(process.env.UNIONMOUNT_FUZZ_SEEDS ?? 20);
const FIRST = Number(process.env.UNIONMOUNT_FUZZ_FIRST ?? 1);
const OPS = Number(process.env.UNIONMOUNT_FUZZ_OPS ?? 200);

const bottom: LayerSpec = {
  'a/f1': 'a f1 bottom\n',
  'a/f2': 'a f2 bottom\n',
  'a/sub/g': 'g\n',
  'b/h': 'h\n',
  'c/': dir(),
  gone: 'hidden by a whiteout\n',
  'opq/hidden': 'hidden by an opaque directory\n',
  'd/deep/x': 'x\n',
  'd/deep/sub/o': 'o\n',
  'e/': dir(0o700),
};
const top: LayerSpec = {
  'a/f3': 'a f3 top\n',
  'a/f2': 'a f2 top\n',
  gone: whiteout(),
  'opq/': opaqueDir(),
  'opq/o': 'o in opaque\n',
  'b/h2': 'h2\n',
  'e/x': 'x\n',
  'd/l': symlink('deep/x'),
  'a/sub/': opaqueDir(),
};
const upper: LayerSpec = {
  u1: 'upper\n',
  'a/f1': whiteout(),
  'a/uf': 'uf\n',
  'b/': opaqueDir(),
  'b/new': 'new\n',
  'd/deep/gone': whiteout(),
};

const NAMES = ['a', 'b', 'c', 'd', 'e', 'sub', 'deep', 'f1', 'f2', 'f3', 'g', 'h', 'x', 'o', 'n1'];
const MODES = [0o644, 0o600, 0o755, 0o700, 0o444, 0o4755];
const TARGETS = ['f1', 'x', 'sub', 'deep/x', 'missing', 'sub/g'];

type Op = [label: string, run: (root: string) => unknown];

const { O_WRONLY, O_RDONLY, O_CREAT, O_TRUNC, O_APPEND, O_NONBLOCK, O_EXCL } = fs.constants;

/** Writes without blocking on a FIFO (ENXIO without a reader, on both sides alike). */
function writeWith(path: string, flags: number, data: string): void {
  const fd = fs.openSync(path, flags | O_WRONLY | O_NONBLOCK, 0o644);
  try {
    fs.writeSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

function readWith(path: string): string {
  const fd = fs.openSync(path, O_RDONLY | O_NONBLOCK);
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, fs.readSync(fd, buf)).toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

function stat(path: string): unknown {
  const s = fs.lstatSync(path);
  return {
    mode: s.mode.toString(8),
    size: s.isDirectory() ? 0 : s.size,
    nlink: s.isDirectory() ? 0 : s.nlink,
  };
}

/** Every path below `root` (for picking existing names). */
function paths(root: string, rel = ''): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(join(root, rel), { withFileTypes: true })) {
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
    found.push(child);
    if (entry.isDirectory()) found.push(...paths(root, child));
  }
  return found;
}

/** The next operation: half the paths name something that exists in `plain`. */
function nextOp(random: () => number, plain: string, i: number): Op {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const existing = paths(plain);
  const dirs = ['', ...existing.filter((p) => fs.lstatSync(join(plain, p)).isDirectory())];
  // A new name, mostly in an existing directory so that creates succeed.
  const fresh = (): string => {
    const parent = random() < 0.85 ? pick(dirs) : pick(NAMES);
    return parent === '' ? pick(NAMES) : `${parent}/${pick(NAMES)}`;
  };
  const somePath = (): string => (existing.length > 0 && random() < 0.5 ? pick(existing) : fresh());
  const [p, q] = [somePath(), somePath()];
  const data = `${i}:${'z'.repeat(Math.floor(random() * 40))}\n`;
  const ops: [number, () => Op][] = [
    [
      10,
      () => [
        `create ${p}`,
        (r) => fs.closeSync(fs.openSync(join(r, p), O_CREAT | O_EXCL | O_WRONLY, 0o644)),
      ],
    ],
    [10, () => [`write ${p}`, (r) => writeWith(join(r, p), O_CREAT | O_TRUNC, data)]],
    [8, () => [`append ${p}`, (r) => writeWith(join(r, p), O_CREAT | O_APPEND, data)]],
    [
      5,
      () => {
        const size = Math.floor(random() * 20);
        return [`truncate ${p} ${size}`, (r) => fs.truncateSync(join(r, p), size)];
      },
    ],
    [10, () => [`unlink ${p}`, (r) => fs.unlinkSync(join(r, p))]],
    [10, () => [`mkdir ${p}`, (r) => fs.mkdirSync(join(r, p), { mode: 0o755 })]],
    [7, () => [`rmdir ${p}`, (r) => fs.rmdirSync(join(r, p))]],
    [16, () => [`rename ${p} ${q}`, (r) => fs.renameSync(join(r, p), join(r, q))]],
    [
      5,
      () => {
        const target = pick(TARGETS);
        return [`symlink ${target} ${p}`, (r) => fs.symlinkSync(target, join(r, p))];
      },
    ],
    [6, () => [`link ${p} ${q}`, (r) => fs.linkSync(join(r, p), join(r, q))]],
    [
      5,
      () => {
        const mode = pick(MODES);
        return [`chmod ${p} ${mode.toString(8)}`, (r) => fs.chmodSync(join(r, p), mode)];
      },
    ],
    [
      5,
      () => {
        const name = `user.${pick(['k1', 'k2'])}`;
        return [
          `setxattr ${p} ${name}`,
          (r) => native.setxattr(Buffer.from(join(r, p)), name, Buffer.from(data)),
        ];
      },
    ],
    [3, () => [`mkfifo ${p}`, (r) => mkfifo(join(r, p))]],
    [4, () => [`read ${p}`, (r) => readWith(join(r, p))]],
    [3, () => [`readdir ${p}`, (r) => fs.readdirSync(join(r, p)).sort()]],
    [3, () => [`stat ${p}`, (r) => stat(join(r, p))]],
  ];
  let roll = random() * ops.reduce((n, [w]) => n + w, 0);
  for (const [weight, make] of ops) {
    roll -= weight;
    if (roll < 0) return make();
  }
  return ops[0]![1]();
}

function mkfifo(path: string): void {
  const run = spawnSync('mkfifo', ['-m', '644', path], { encoding: 'utf8' });
  if (run.status === 0) return;
  const code = /File exists/.test(run.stderr)
    ? 'EEXIST'
    : /No such file/.test(run.stderr)
      ? 'ENOENT'
      : /Not a directory/.test(run.stderr)
        ? 'ENOTDIR'
        : run.stderr.trim();
  throw Object.assign(new Error(run.stderr), { code });
}

function apply(root: string, [label, run]: Op): string {
  try {
    const value = run(root);
    return `${label}: ok${value === undefined ? '' : ` ${JSON.stringify(value)}`}`;
  } catch (err) {
    return `${label}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

const view = (root: string): string[] => snapshot(root, { nlink: true, xattrs: ['user.'] });

/** A lower exactly as it was: contents, modes, owners, xattrs (all), and change times. */
function fingerprint(root: string): string[] {
  const stamps = [root, ...paths(root).map((p) => join(root, p))].map(
    (p) =>
      `${p} ${fs.lstatSync(p, { bigint: true }).ctimeNs} ${fs.lstatSync(p, { bigint: true }).mtimeNs}`,
  );
  return [...snapshot(root, { nlink: true, xattrs: [''] }), ...stamps];
}

function scratch(): string {
  const base = fs.mkdtempSync(join(tmpdir(), 'um-conformance-'));
  onTestFinished(async () => {
    await cleanupMounts();
    fs.rmSync(base, { recursive: true, force: true });
  });
  return base;
}

/** The merged view of the layers copied to a plain directory (through a read-only kernel mount). */
function seedPlain(base: string, layers: string[]): string {
  const view = join(base, 'view');
  const plain = join(base, 'plain');
  fs.mkdirSync(view);
  const mount = kernelOverlay({ lowers: layers, mountpoint: view });
  try {
    const copy = spawnSync('cp', ['-a', `${view}/.`, plain], { encoding: 'utf8' });
    if (copy.status !== 0) throw new Error(`cp -a: ${copy.stderr}`);
  } finally {
    mount.unmount();
  }
  return plain;
}

async function runSeed(seed: number): Promise<void> {
  const base = scratch();
  const lowers = [writeLayer(join(base, 'top'), top), writeLayer(join(base, 'bottom'), bottom)];
  const upperDir = writeLayer(join(base, 'upper'), upper);
  const work = join(base, 'work');
  const mnt = join(base, 'mnt');
  fs.mkdirSync(work);
  fs.mkdirSync(mnt);
  const plain = seedPlain(base, [upperDir, ...lowers]);
  const before = lowers.map(fingerprint);
  const options = { lowers, upper: upperDir, work, mountpoint: mnt };

  let mounted = await union(options);
  expect(view(mnt), 'the seeded plain directory').toEqual(view(plain));
  const random = mulberry32(seed);
  const results = { plain: [] as string[], union: [] as string[] };
  for (let i = 0; i < OPS; i++) {
    const op = nextOp(random, plain, i);
    results.plain.push(`${i} ${apply(plain, op)}`);
    results.union.push(`${i} ${apply(mnt, op)}`);
  }
  expect(results.union, `seed ${seed}: results`).toEqual(results.plain);
  expect(view(mnt), `seed ${seed}: tree`).toEqual(view(plain));

  await mounted.unmount();
  mounted = await union(options);
  expect(view(mnt), `seed ${seed}: tree after remount`).toEqual(view(plain));
  await mounted.unmount();

  const kernel = kernelOverlay({ ...options, extra: 'redirect_dir=on' });
  try {
    expect(view(mnt), `seed ${seed}: tree under kernel overlayfs`).toEqual(view(plain));
  } finally {
    kernel.unmount();
  }
  expect(lowers.map(fingerprint), `seed ${seed}: lowers unchanged`).toEqual(before);
}

describe(`randomized differential: ${SEEDS} seeds × ${OPS} operations`, () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    it.skipIf(possible !== true)(`seed ${seed}`, () => runSeed(seed));
  }
});
