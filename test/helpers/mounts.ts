/**
 * Real mounts for tests: unionmount through the library API (a child daemon) and kernel overlayfs
 * as the oracle. Mounts are tracked and always removed, also when a test fails; a hung daemon is
 * aborted through fusectl rather than waited on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { scratch } from './layers.js';
import { mountUnion, type MountUnionOptions, type MountedUnion } from '../../dist/index.js';
import { kernelOverlay as mountKernel, type KernelMount } from '../../dist/testing/index.js';

import { clearStaleMount, mountAt, mounts } from '../../src/fuse/mounts.js';

export type { KernelMount };

const active = new Set<string>();
/** Scratch directories of this process's tests (testDir). */
const ownDirs = new Set<string>();

/** Fails loudly in CI when mounting is impossible; elsewhere says why the test cannot run. */
export function mountingPossible(): true | string {
  const missing = !existsSync('/dev/fuse')
    ? '/dev/fuse is missing'
    : process.getuid?.() !== 0
      ? 'tests mount as root'
      : !existsSync(new URL('../../dist/cli/main.js', import.meta.url))
        ? 'dist/ is not built (npm run build)'
        : undefined;
  if (missing === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`cannot mount in CI: ${missing}`);
  return missing;
}

export async function union(options: MountUnionOptions): Promise<MountedUnion> {
  const mounted = await mountUnion(options);
  active.add(mounted.mountpoint);
  const unmount = mounted.unmount.bind(mounted);
  return Object.assign(mounted, {
    unmount: async () => {
      await unmount();
      active.delete(mounted.mountpoint);
    },
  });
}

/** Kernel overlayfs over the same kind of layers (the oracle), tracked for clean-up. */
export function kernelOverlay(options: Parameters<typeof mountKernel>[0]): KernelMount {
  const mount = mountKernel(options);
  active.add(mount.mountpoint);
  return {
    mountpoint: mount.mountpoint,
    unmount: () => {
      mount.unmount();
      active.delete(mount.mountpoint);
    },
  };
}

/** Removes every mount a test left behind, tracked or below a test scratch directory. */
export async function cleanupMounts(): Promise<void> {
  // Only this process's own: tracked mounts, and any mount below a directory its tests made.
  const strays = mounts()
    .map((m) => m.mountpoint)
    .filter((m) => [...ownDirs].some((dir) => m.startsWith(`${dir}/`)));
  for (const mountpoint of new Set([...active, ...strays].reverse())) {
    if (mountAt(mountpoint) !== undefined) await clearStaleMount(mountpoint).catch(() => undefined);
    active.delete(mountpoint);
  }
}

/** Mounts below `dir`, to check that nothing is left. */
export function mountsBelow(dir: string): string[] {
  return mounts()
    .map((m) => m.mountpoint)
    .filter((m) => m.startsWith(dir));
}

/**
 * A scratch directory for one test, removed when the test finished, after any mount in it is
 * gone, so a failing test reports its own failure and leaves nothing behind.
 */
export function testDir(): string {
  const dir = scratch();
  ownDirs.add(dir.path);
  onTestFinished(async () => {
    await cleanupMounts();
    ownDirs.delete(dir.path);
    // rm(1) walks fd-relative: it removes trees deeper than PATH_MAX, which fs.rm cannot.
    execFileSync('rm', ['-rf', dir.path]);
  });
  return dir.path;
}

/** A fresh test directory with empty `lower`, `upper` and `mnt`, and a union mounted there. */
export async function unionInTestDir(
  options: Partial<MountUnionOptions> = {},
): Promise<{ dir: string; lower: string; upper: string; mnt: string; mounted: MountedUnion }> {
  const dir = testDir();
  const [lower, upper, mnt] = ['lower', 'upper', 'mnt'].map((d) => join(dir, d)) as [
    string,
    string,
    string,
  ];
  for (const d of [lower, upper, mnt]) mkdirSync(d, { recursive: true });
  const mounted = await union({ lowers: [lower], upper, mountpoint: mnt, ...options });
  return { dir, lower, upper, mnt, mounted };
}

export const path = join;
