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
import { EVENTS_FD, startDaemon, type Daemon } from './spawn.js';
import { EventFeed, type TracedEvent } from './trace.js';
import { UnionmountError } from './errors.js';
import { diff, type Change } from './tools/diff.js';
import { inspect, type Inspection } from './tools/inspect.js';
import { openStack } from './tools/stack.js';

/**
 * The CLI's mount options: `lowers` (top first), then one of `upper` (writes land there),
 * `ephemeral` (a temporary upper deleted at unmount) or neither (a read-only union); `work`,
 * `allowOther`, `force`, `cache`, `passthrough` as the flags of the same names.
 */
export interface MountUnionOptions extends Omit<UnionOptions, 'mountpoint'> {
  /** Where to mount; default: a fresh temporary directory, removed at unmount. */
  mountpoint?: string;
}

/**
 * A live mount served by a child daemon. `await using` unmounts it when the scope ends, also when
 * the scope throws.
 */
export interface MountedUnion extends AsyncDisposable {
  /** The mount's absolute path (the temporary one when none was given). */
  readonly mountpoint: string;
  /** The lower layers' real paths, top first. */
  readonly lowers: readonly string[];
  /** The upper layer's real path; undefined when read-only or ephemeral. */
  readonly upper: string | undefined;
  /** What the daemon printed (errors). */
  log(): string;
  /** Union events from now on (copy-up, whiteout, opaque, ...) as the daemon traced them. */
  events(): AsyncIterableIterator<TracedEvent>;
  /** What the upper changed, as `docker diff` (A added, C changed, D deleted), sorted by path. */
  diff(): Promise<Change[]>;
  /** How the layers resolve `path` ('/etc/app.conf'): each layer's object and its state. */
  inspect(path: string): Promise<Inspection>;
  /** Unmounts and waits for the daemon to exit; a hung daemon is aborted, never waited on. */
  unmount(): Promise<void>;
}

const EXIT_WAIT_MS = 10_000;

/**
 * Mounts a union and resolves once it is ready; rejects with a UnionmountError naming the
 * path and the problem (nothing is left mounted or created then).
 *
 * ```ts
 * await using union = await mountUnion({ lowers: ['layers/app', 'layers/base'], ephemeral: true });
 * readFileSync(join(union.mountpoint, 'etc/app.conf'), 'utf8');
 * ```
 */
export async function mountUnion(options: MountUnionOptions): Promise<MountedUnion> {
  const ownMountpoint = options.mountpoint === undefined;
  const mountpoint = options.mountpoint ?? (await mkdtemp(join(tmpdir(), 'unionmount-mnt-')));
  try {
    const config = await resolveConfig({ ...options, mountpoint });
    const daemon = await startDaemon(cliArgs(options, config.mountpoint), { events: true });
    const layers = { lowers: config.lowers, upper: config.upper, ephemeral: config.ephemeral };
    return handle(daemon, config.mountpoint, layers, ownMountpoint);
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
  if (options.passthrough === false) args.push('--no-passthrough');
  if (options.redirectDir !== undefined) args.push('--redirect-dir', options.redirectDir);
  if (options.userxattr) args.push('--userxattr');
  if (options.volatile) args.push('--volatile');
  return [...args, `--trace=/dev/fd/${EVENTS_FD}`, '--trace-format=json', mountpoint];
}

interface Layers {
  lowers: string[];
  upper: string | undefined;
  ephemeral: boolean;
}

function handle(
  daemon: Daemon,
  mountpoint: string,
  { lowers, upper, ephemeral }: Layers,
  ownMountpoint: boolean,
): MountedUnion {
  // The tools read the layers directly; an ephemeral upper lives in the daemon's own directory.
  const refusal = ephemeral
    ? new UnionmountError('an ephemeral union keeps its upper private: mount with an upper')
    : undefined;
  let unmounted: Promise<void> | undefined;
  const feed = new EventFeed(daemon.events!);
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
    events: () => feed.subscribe(),
    diff: () =>
      refusal
        ? Promise.reject(refusal)
        : upper === undefined
          ? Promise.resolve([])
          : diff(lowers, upper),
    inspect: (path) =>
      refusal ? Promise.reject(refusal) : inspect(openStack(lowers, upper), path),
    unmount: () => (unmounted ??= stop()),
    [Symbol.asyncDispose]: () => (unmounted ??= stop()),
  };
}

async function forceStop(daemon: Daemon, mountpoint: string): Promise<void> {
  await clearStaleMount(mountpoint).catch(() => undefined);
  daemon.child.kill('SIGKILL');
}
