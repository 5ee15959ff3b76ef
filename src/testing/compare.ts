/**
 * Differential runs: the same layers and the same steps on kernel overlayfs and on unionmount,
 * compared by each step's result (errno included), the merged tree and the upper's on-disk layout.
 * This is the harness unionmount's own conformance tests use.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountUnion, type MountUnionOptions } from '../api.js';
import { type LayerSpec, writeLayer } from './layers.js';
import { snapshot } from './tree.js';

/**
 * One step: a synchronous fs call relative to the mount root. Its return value (if any) is part
 * of the result; a thrown error becomes its `code` (ENOENT, EXDEV, ...).
 */
export type Step = [label: string, run: (root: string) => unknown];

/** What one run of the steps saw: one line per step, the merged tree and the upper's layout. */
export interface Outcome {
  /** `<label>: ok [value as JSON]` or `<label>: <errno code>`, one per step. */
  results: string[];
  /** The merged tree after the steps (see {@link snapshot}), with link counts. */
  merged: string[];
  /** The upper layer on disk after unmount, with `user.*` and `trusted.*` xattrs. */
  upper: string[];
}

/** The layers of a comparison, lowers top first (the kernel's lowerdir order). */
export interface CompareLayers {
  lowers: LayerSpec[];
  /** The upper's initial content; default: empty. */
  upper?: LayerSpec;
}

/** How the kernel mount is made. */
export interface CompareOptions {
  /**
   * The kernel mount's -o options beyond the layers. Default `redirect_dir=on`: unionmount renames
   * directories with lower content by redirects, where the kernel with redirect_dir=off gives EXDEV.
   */
  kernelOptions?: string;
}

/** One place where unionmount and the kernel disagree. */
export interface Difference {
  /** A step's result, an object of the merged tree, or an object of the upper layer. */
  in: 'step' | 'merged' | 'upper';
  /** The step's label, or the object's path. */
  at: string;
  /** What the kernel gave; undefined: no such object. */
  kernel: string | undefined;
  /** What unionmount gave; undefined: no such object. */
  unionmount: string | undefined;
}

/** Both outcomes and where they differ (empty when unionmount behaved as the kernel). */
export interface Comparison {
  kernel: Outcome;
  unionmount: Outcome;
  differences: Difference[];
}

/** Bookkeeping whose bytes and placement depend on file handles and the order of operations. */
const KERNEL_ONLY = ['trusted.overlay.origin', 'trusted.overlay.impure'];

/**
 * Runs `steps` on kernel overlayfs and on unionmount, each over fresh layers written from
 * `layers`, and returns where they differ. Needs root (the kernel mount); see
 * {@link kernelOverlayPossible}. Every mount and scratch directory is removed, also on failure.
 */
export async function compareWithKernel(
  layers: CompareLayers,
  steps: Step[],
  options: CompareOptions = {},
): Promise<Comparison> {
  const kernel = runOnKernel(layers, steps, options);
  const unionmount = await runOnUnionmount(layers, steps);
  const labels = steps.map(([label]) => label);
  return { kernel, unionmount, differences: differences(labels, kernel, unionmount) };
}

/** true when a kernel overlayfs mount can be made here, otherwise why not. */
export function kernelOverlayPossible(): true | string {
  if (process.getuid?.() !== 0) return 'kernel overlayfs mounts need root';
  const filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay$/m.test(filesystems))
    return 'overlay is not in /proc/filesystems (modprobe overlay)';
  return true;
}

/** A kernel overlayfs mount, removed with `unmount()`. */
export interface KernelMount {
  mountpoint: string;
  unmount(): void;
}

/** Mounts kernel overlayfs (`mount -t overlay`); the work directory defaults to `<upper>.work`. */
export function kernelOverlay(options: {
  lowers: string[];
  upper?: string;
  work?: string;
  mountpoint: string;
  /** More -o options, comma-separated (e.g. `redirect_dir=on`). */
  extra?: string;
}): KernelMount {
  const possible = kernelOverlayPossible();
  if (possible !== true) throw new Error(`kernel overlayfs at ${options.mountpoint}: ${possible}`);
  const opts = [`lowerdir=${options.lowers.join(':')}`];
  if (options.upper !== undefined) {
    const work = options.work ?? `${options.upper}.work`;
    fs.mkdirSync(work, { recursive: true });
    opts.push(`upperdir=${options.upper}`, `workdir=${work}`);
  }
  if (options.extra) opts.push(options.extra);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', opts.join(','), options.mountpoint], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return {
    mountpoint: options.mountpoint,
    unmount: () => execFileSync('umount', [options.mountpoint]),
  };
}

/** Runs `steps` on a kernel overlayfs mount of `layers`. */
export function runOnKernel(
  layers: CompareLayers,
  steps: Step[],
  options: CompareOptions = {},
): Outcome {
  return inScratch('unionmount-kernel-', layers, (dirs) => {
    const mount = kernelOverlay({ ...dirs, extra: options.kernelOptions ?? 'redirect_dir=on' });
    let seen: Omit<Outcome, 'upper'>;
    try {
      seen = observe(dirs.mountpoint, steps);
    } finally {
      mount.unmount();
    }
    return { ...seen, upper: upperLayout(dirs.upper) };
  });
}

/** Runs `steps` on a unionmount mount of `layers` (through {@link mountUnion}). */
export function runOnUnionmount(
  layers: CompareLayers,
  steps: Step[],
  options: Pick<MountUnionOptions, 'redirectDir' | 'cache'> = {},
): Promise<Outcome> {
  return inScratch('unionmount-union-', layers, async (dirs) => {
    const mount = await mountUnion({ ...dirs, ...options });
    let seen: Omit<Outcome, 'upper'>;
    try {
      seen = observe(dirs.mountpoint, steps);
    } finally {
      await mount.unmount();
    }
    return { ...seen, upper: upperLayout(dirs.upper) };
  });
}

interface LayerDirs {
  lowers: string[];
  upper: string;
  mountpoint: string;
}

/** Writes the layers into a fresh directory, runs `body`, then removes the directory. */
function inScratch<T>(prefix: string, layers: CompareLayers, body: (dirs: LayerDirs) => T): T {
  const base = fs.mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => fs.rmSync(base, { recursive: true, force: true });
  let result: T;
  try {
    const mountpoint = join(base, 'mnt');
    fs.mkdirSync(mountpoint);
    result = body({
      lowers: layers.lowers.map((spec, i) => writeLayer(join(base, `lower${i}`), spec)),
      upper: writeLayer(join(base, 'upper'), layers.upper ?? {}),
      mountpoint,
    });
  } catch (err) {
    remove();
    throw err;
  }
  if (result instanceof Promise) return result.finally(remove) as T;
  remove();
  return result;
}

function observe(root: string, steps: Step[]): Omit<Outcome, 'upper'> {
  return { results: runSteps(root, steps), merged: snapshot(root, { nlink: true }) };
}

const upperLayout = (upper: string): string[] =>
  snapshot(upper, { xattrs: ['user.', 'trusted.'], ignoreXattrs: KERNEL_ONLY });

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

function differences(labels: string[], kernel: Outcome, ours: Outcome): Difference[] {
  const steps = labels.flatMap((label, i): Difference[] => {
    const outcome = (results: string[]): string | undefined => results[i]?.slice(label.length + 2);
    const [a, b] = [outcome(kernel.results), outcome(ours.results)];
    return a === b ? [] : [{ in: 'step', at: label, kernel: a, unionmount: b }];
  });
  return [
    ...steps,
    ...treeDifferences('merged', kernel.merged, ours.merged),
    ...treeDifferences('upper', kernel.upper, ours.upper),
  ];
}

function treeDifferences(
  where: 'merged' | 'upper',
  kernel: string[],
  ours: string[],
): Difference[] {
  const a = byPath(kernel);
  const b = byPath(ours);
  return [...new Set([...a.keys(), ...b.keys()])]
    .sort()
    .filter((path) => a.get(path) !== b.get(path))
    .map((path) => ({ in: where, at: path, kernel: a.get(path), unionmount: b.get(path) }));
}

/** Snapshot lines start with the path as a JSON string. */
function byPath(lines: string[]): Map<string, string> {
  return new Map(
    lines.map((line) => {
      const [, path, rest] = /^("(?:[^"\\]|\\.)*") (.*)$/.exec(line)!;
      return [JSON.parse(path!) as string, rest!];
    }),
  );
}

/** Step builders: each names itself after the call, so a result reads like a log. */
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
