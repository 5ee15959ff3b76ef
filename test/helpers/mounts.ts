/**
 * Real mounts for tests: unionmount through the library API (a child daemon) and kernel overlayfs
 * as the oracle. Mounts are tracked and always removed, also when a test fails; a hung daemon is
 * aborted through fusectl rather than waited on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { scratch } from './layers.js';
import { mountUnion, type MountUnionOptions, type MountedUnion } from '../../dist/index.js';
import { clearStaleMount, mountAt, mounts } from '../../src/fuse/mounts.js';

const active = new Set<string>();

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

export interface KernelMount {
  mountpoint: string;
  unmount(): void;
}

/** Kernel overlayfs over the same kind of layers: the oracle. */
export function kernelOverlay(options: {
  lowers: string[];
  upper?: string;
  work?: string;
  mountpoint: string;
  extra?: string;
}): KernelMount {
  const opts = [`lowerdir=${options.lowers.join(':')}`];
  if (options.upper !== undefined) {
    const work = options.work ?? `${options.upper}.work`;
    mkdirSync(work, { recursive: true });
    opts.push(`upperdir=${options.upper}`, `workdir=${work}`);
  }
  if (options.extra) opts.push(options.extra);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', opts.join(','), options.mountpoint]);
  active.add(options.mountpoint);
  return {
    mountpoint: options.mountpoint,
    unmount: () => {
      execFileSync('umount', [options.mountpoint]);
      active.delete(options.mountpoint);
    },
  };
}

/** Removes every mount a test left behind, tracked or below a test scratch directory. */
export async function cleanupMounts(): Promise<void> {
  const strays = mounts()
    .map((m) => m.mountpoint)
    .filter((m) => /^\/tmp\/um-(test|kernel|union|cli)-/.test(m));
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
  onTestFinished(async () => {
    await cleanupMounts();
    rmSync(dir.path, { recursive: true, force: true });
  });
  return dir.path;
}

export const path = join;
