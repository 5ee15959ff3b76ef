/**
 * Conformance harness: the same layers mounted twice, by kernel overlayfs (the oracle) and by
 * unionmount, and the same operations run on both by a real process, as root or as another user.
 * Operations are run by ./ops.py (python3: raw byte names, open-file tables, ctypes for sized
 * xattr calls); each result is `['ok', value?]` or `[errno name]`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { type LayerSpec, writeLayer } from '../helpers/layers.js';
import { cleanupMounts, kernelOverlay, union } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';

const OPS_SOURCE = fs.readFileSync(new URL('./ops.py', import.meta.url), 'utf8');

/** nobody:nogroup, the other user of the permission tests. */
export const NOBODY = 65534;

/** The system python: every user can run it (a per-user install may live in /root). */
const PYTHON = '/usr/bin/python3';

export type Op = [string, ...unknown[]];
export type Result = [string, unknown?];

/** Layer directories of one side; `prepare` may chown or chmod them before mounting. */
export interface Sides {
  lowers: LayerSpec[];
  upper?: LayerSpec;
  prepare?: (dirs: { lowers: string[]; upper: string }) => void;
  allowOther?: boolean;
  /** unionmount's `passthrough` option (on by default where the kernel has it). */
  passthrough?: boolean;
}

export interface Side {
  root: string;
  lowers: string[];
  upper: string;
  work: string;
}

export interface Pair {
  kernel: Side;
  union: Side;
  /** Unmounts unionmount and mounts it again over the same layers. */
  remountUnion(): Promise<void>;
}

/** Writes the layers twice below a fresh test directory that any user may enter. */
function layersIn(base: string, spec: Sides): Side {
  fs.mkdirSync(base, { mode: 0o755 });
  const lowers = spec.lowers.map((l, i) => writeLayer(join(base, `lower${i}`), l));
  const upper = writeLayer(join(base, 'upper'), spec.upper ?? {});
  spec.prepare?.({ lowers, upper });
  const root = join(base, 'mnt');
  const work = join(base, 'work');
  fs.mkdirSync(root, { mode: 0o755 });
  fs.mkdirSync(work);
  return { root, lowers, upper, work };
}

/**
 * A scratch directory any user may enter, removed after the test once its mounts are gone. Not
 * below `um-test-*`: cleanupMounts() in a concurrent test run sweeps mounts there as strays.
 */
function conformanceDir(): string {
  const base = fs.mkdtempSync(join(tmpdir(), 'um-conformance-'));
  fs.chmodSync(base, 0o755);
  onTestFinished(async () => {
    await cleanupMounts();
    fs.rmSync(base, { recursive: true, force: true });
  });
  return base;
}

export async function mountPair(spec: Sides): Promise<Pair> {
  const base = conformanceDir();
  const kernel = layersIn(join(base, 'kernel'), spec);
  kernelOverlay({ ...kernel, mountpoint: kernel.root, extra: 'redirect_dir=on' });
  const ours = layersIn(join(base, 'union'), spec);
  const options = {
    ...ours,
    mountpoint: ours.root,
    allowOther: spec.allowOther ?? false,
    passthrough: spec.passthrough,
  };
  let mounted = await union(options);
  return {
    kernel,
    union: ours,
    async remountUnion() {
      await mounted.unmount();
      mounted = await union(options);
    },
  };
}

/** Runs `ops` below `root` in one python3 process, as `uid` (root by default). */
export function runOps(root: string, ops: Op[], uid = 0): Result[] {
  const asUser =
    uid === 0 ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
  const [cmd, ...args] = [...asUser, PYTHON, '-c', OPS_SOURCE, root];
  const run = spawnSync(cmd, args, { input: JSON.stringify(ops), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ops.py as uid ${uid} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Result[];
}

/** The results of `ops` on both mounts, labelled by operation for readable diffs. */
export function onBoth(pair: Pair, ops: Op[], uid = 0): { kernel: string[]; union: string[] } {
  const label = (results: Result[]): string[] =>
    results.map((r, i) => `${JSON.stringify(ops[i])} → ${JSON.stringify(r)}`);
  return {
    kernel: label(runOps(pair.kernel.root, ops, uid)),
    union: label(runOps(pair.union.root, ops, uid)),
  };
}

/** The merged trees of both mounts, with owners and link counts. */
export function trees(pair: Pair): { kernel: string[]; union: string[] } {
  const options = { nlink: true, xattrs: ['user.', 'security.', 'trusted.'] };
  return {
    kernel: snapshot(pair.kernel.root, options),
    union: snapshot(pair.union.root, options),
  };
}

/** The value of each result, failing with the errno when an op failed. */
export function values(results: Result[]): unknown[] {
  return results.map((r) => (r[0] === 'ok' ? r[1] : r[0]));
}
