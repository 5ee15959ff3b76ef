/**
 * The library API: mount a union from a program or a test. The union is served by a child
 * process, never by the caller's own event loop: a test that reads the mount synchronously would
 * otherwise wait for itself, and a crashed test process would take its mount's daemon with it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type UnionOptions } from './config.js';
import { clearStaleMount, mountAt } from './fuse/mounts.js';
import { startDaemon, type Daemon } from './spawn.js';

export interface MountUnionOptions extends Omit<UnionOptions, 'mountpoint' | 'debug'> {
  /** Where to mount; default: a fresh temporary directory, removed at unmount. */
  mountpoint?: string;
}

export interface MountedUnion extends AsyncDisposable {
  readonly mountpoint: string;
  readonly lowers: readonly string[];
  readonly upper: string | undefined;
  /** What the daemon printed (errors, --trace lines). */
  log(): string;
  /** Unmounts and waits for the daemon to exit; a hung daemon is aborted, never waited on. */
  unmount(): Promise<void>;
}

const EXIT_WAIT_MS = 10_000;

export async function mountUnion(options: MountUnionOptions): Promise<MountedUnion> {
  const ownMountpoint = options.mountpoint === undefined;
  const mountpoint = options.mountpoint ?? (await mkdtemp(join(tmpdir(), 'unionmount-mnt-')));
  try {
    const config = await resolveConfig({ ...options, mountpoint });
    const daemon = await startDaemon(cliArgs(options, config.mountpoint));
    return handle(daemon, config.mountpoint, config.lowers, config.upper, ownMountpoint);
  } catch (err) {
    if (ownMountpoint) await rm(mountpoint, { recursive: true, force: true });
    throw err;
  }
}

function cliArgs(options: MountUnionOptions, mountpoint: string): string[] {
  const args = ['--lower', options.lowers.join(':')];
  if (options.upper !== undefined) args.push('--upper', options.upper);
  if (options.work !== undefined) args.push('--work', options.work);
  if (options.ephemeral) args.push('--ephemeral');
  if (options.allowOther) args.push('--allow-other');
  if (options.force) args.push('--force');
  if (options.cache === false) args.push('--no-cache');
  return [...args, '--trace', mountpoint];
}

function handle(
  daemon: Daemon,
  mountpoint: string,
  lowers: string[],
  upper: string | undefined,
  ownMountpoint: boolean,
): MountedUnion {
  let unmounted: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => {
    if (daemon.child.exitCode !== null) resolve();
    daemon.child.once('exit', () => resolve());
  });
  const stop = async (): Promise<void> => {
    // The daemon unmounts itself on SIGTERM; a mount left behind after that is cleared.
    daemon.child.kill('SIGTERM');
    const timer = setTimeout(() => void forceStop(daemon, mountpoint), EXIT_WAIT_MS);
    await exited;
    clearTimeout(timer);
    if (mountAt(mountpoint) !== undefined) await clearStaleMount(mountpoint);
    daemon.dispose();
    if (ownMountpoint) await rm(mountpoint, { recursive: true, force: true });
  };
  return {
    mountpoint,
    lowers,
    upper,
    log: () => daemon.log(),
    unmount: () => (unmounted ??= stop()),
    [Symbol.asyncDispose]: () => (unmounted ??= stop()),
  };
}

async function forceStop(daemon: Daemon, mountpoint: string): Promise<void> {
  await clearStaleMount(mountpoint).catch(() => undefined);
  daemon.child.kill('SIGKILL');
}
