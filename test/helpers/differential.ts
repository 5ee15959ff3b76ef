/**
 * Differential runs: the same layers and the same steps on kernel overlayfs and on unionmount,
 * compared by each step's result (errno included), the merged tree and the upper's layout.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type LayerSpec, scratch, writeLayer } from './layers.js';
import { kernelOverlay, union } from './mounts.js';
import { snapshot } from './tree.js';

/** One step: an fs call relative to the mount root; its value (if any) is part of the result. */
export type Step = [label: string, run: (root: string) => unknown];

export interface Outcome {
  results: string[];
  merged: string[];
  upper: string[];
}

/** The kernel's own bookkeeping that unionmount does not write (origin file handles, impure). */
const KERNEL_ONLY = ['trusted.overlay.origin', 'trusted.overlay.impure'];

function runSteps(root: string, steps: Step[]): string[] {
  return steps.map(([label, step]) => {
    try {
      const value = step(root);
      return `${label}: ok${value === undefined ? '' : ` ${JSON.stringify(value)}`}`;
    } catch (err) {
      return `${label}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  });
}

function layerDirs(
  base: string,
  lowers: LayerSpec[],
  upper: LayerSpec,
): { lowers: string[]; upper: string } {
  return {
    lowers: lowers.map((spec, i) => writeLayer(join(base, `lower${i}`), spec)),
    upper: writeLayer(join(base, 'upper'), upper),
  };
}

function outcome(root: string, upper: string, results: string[]): Outcome {
  return {
    results,
    merged: snapshot(root, { nlink: true }),
    upper: snapshot(upper, { xattrs: ['user.', 'trusted.'], ignoreXattrs: KERNEL_ONLY }),
  };
}

export function onKernel(lowers: LayerSpec[], upper: LayerSpec, steps: Step[]): Outcome {
  const dir = scratch('um-kernel-');
  try {
    const layers = layerDirs(dir.path, lowers, upper);
    const mnt = join(dir.path, 'mnt');
    fs.mkdirSync(mnt);
    const mount = kernelOverlay({ ...layers, mountpoint: mnt });
    let results: string[];
    let merged: Outcome;
    try {
      results = runSteps(mnt, steps);
      merged = outcome(mnt, layers.upper, results);
    } finally {
      mount.unmount();
    }
    return {
      ...merged,
      upper: snapshot(layers.upper, { xattrs: ['user.', 'trusted.'], ignoreXattrs: KERNEL_ONLY }),
    };
  } finally {
    dir.remove();
  }
}

export async function onUnionmount(
  lowers: LayerSpec[],
  upper: LayerSpec,
  steps: Step[],
): Promise<Outcome> {
  const dir = scratch('um-union-');
  try {
    const layers = layerDirs(dir.path, lowers, upper);
    const mnt = join(dir.path, 'mnt');
    fs.mkdirSync(mnt);
    const mount = await union({ lowers: layers.lowers, upper: layers.upper, mountpoint: mnt });
    let result: Outcome;
    try {
      result = outcome(mnt, layers.upper, runSteps(mnt, steps));
    } finally {
      await mount.unmount();
    }
    return {
      ...result,
      upper: snapshot(layers.upper, { xattrs: ['user.', 'trusted.'], ignoreXattrs: KERNEL_ONLY }),
    };
  } finally {
    dir.remove();
  }
}

/** Step builders: each names itself after the call, so a mismatch reads like a log. */
export const step = {
  read: (p: string): Step => [`read ${p}`, (r) => fs.readFileSync(join(r, p), 'latin1')],
  write: (p: string, data: string): Step => [
    `write ${p}`,
    (r) => fs.writeFileSync(join(r, p), data),
  ],
  append: (p: string, data: string): Step => [
    `append ${p}`,
    (r) => fs.appendFileSync(join(r, p), data),
  ],
  create: (p: string, mode = 0o644): Step => [
    `create-excl ${p}`,
    (r) => fs.closeSync(fs.openSync(join(r, p), 'wx', mode)),
  ],
  truncate: (p: string, size: number): Step => [
    `truncate ${p} ${size}`,
    (r) => fs.truncateSync(join(r, p), size),
  ],
  unlink: (p: string): Step => [`unlink ${p}`, (r) => fs.unlinkSync(join(r, p))],
  mkdir: (p: string, mode = 0o755): Step => [
    `mkdir ${p}`,
    (r) => fs.mkdirSync(join(r, p), { mode }),
  ],
  rmdir: (p: string): Step => [`rmdir ${p}`, (r) => fs.rmdirSync(join(r, p))],
  rename: (a: string, b: string): Step => [
    `rename ${a} ${b}`,
    (r) => fs.renameSync(join(r, a), join(r, b)),
  ],
  symlink: (target: string, p: string): Step => [
    `symlink ${target} ${p}`,
    (r) => fs.symlinkSync(target, join(r, p)),
  ],
  readlink: (p: string): Step => [`readlink ${p}`, (r) => fs.readlinkSync(join(r, p))],
  link: (a: string, b: string): Step => [
    `link ${a} ${b}`,
    (r) => fs.linkSync(join(r, a), join(r, b)),
  ],
  chmod: (p: string, mode: number): Step => [
    `chmod ${p} ${mode.toString(8)}`,
    (r) => fs.chmodSync(join(r, p), mode),
  ],
  chown: (p: string, uid: number, gid: number): Step => [
    `chown ${p}`,
    (r) => fs.chownSync(join(r, p), uid, gid),
  ],
  readdir: (p: string): Step => [`readdir ${p}`, (r) => fs.readdirSync(join(r, p)).sort()],
  stat: (p: string): Step => [
    `stat ${p}`,
    (r) => {
      const s = fs.lstatSync(join(r, p));
      return {
        mode: s.mode.toString(8),
        size: s.size,
        nlink: s.isDirectory() ? undefined : s.nlink,
      };
    },
  ],
};
