/**
 * Which layers are in use by a live mount right now. Kernel overlay mounts name their layers in
 * their super options (mountinfo). A unionmount daemon's FUSE mount does not, so its layers are
 * read from the daemon's command line (/proc/PID/cmdline, relative paths resolved against
 * /proc/PID/cwd): no lock file to go stale when a daemon is killed.
 */
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { UnionmountError } from '../errors.js';
import { mounts, unescape } from '../fuse/mounts.js';

export interface LiveMount {
  kind: 'kernel overlay' | 'unionmount';
  mountpoint: string;
  lowers: string[];
  upper: string | undefined;
  /** The daemon serving a unionmount mount. */
  pid?: number;
}

export function liveMounts(): LiveMount[] {
  return [...kernelMounts(), ...unionmountDaemons()];
}

/** Refuses (exit 1, nothing changed) when a live mount writes to `upper`. */
export function refuseIfMounted(upper: string, action: string): void {
  const real = realOrSame(upper);
  const live = liveMounts().find((m) => m.upper !== undefined && realOrSame(m.upper) === real);
  if (live === undefined) return;
  const by = live.pid === undefined ? '' : ` (daemon pid ${live.pid})`;
  throw new UnionmountError(
    `upper layer ${upper}: in use by the ${live.kind} mount at ${live.mountpoint}${by}; unmount it before ${action}`,
  );
}

/** The live mount at `mountpoint`, if any (mountpoints are never stat'ed: one may hang). */
export function liveMountAt(mountpoint: string): LiveMount | undefined {
  const path = resolve(mountpoint);
  return liveMounts().find((m) => m.mountpoint === path);
}

function kernelMounts(): LiveMount[] {
  return mounts()
    .filter((m) => m.fstype === 'overlay')
    .map((m) => {
      const options = new Map(
        m.superOptions.split(',').map((option): [string, string] => {
          const eq = option.indexOf('=');
          return eq < 0 ? [option, ''] : [option.slice(0, eq), option.slice(eq + 1)];
        }),
      );
      const upper = options.get('upperdir');
      return {
        kind: 'kernel overlay' as const,
        mountpoint: m.mountpoint,
        // Layers are separated by ':'; a ':' inside a name is shown escaped.
        lowers: (options.get('lowerdir') ?? '').split(':').filter(Boolean).map(unescape),
        upper: upper === undefined ? undefined : unescape(upper),
      };
    });
}

function unionmountDaemons(): LiveMount[] {
  const found: LiveMount[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const daemon = readDaemon(pid);
    if (daemon !== undefined) found.push(daemon);
  }
  return found;
}

/** A `unionmount [mount] --lower A [--upper B] ... MOUNTPOINT` process, or undefined. */
function readDaemon(pid: number): LiveMount | undefined {
  let argv: string[];
  let cwd: string;
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').slice(0, -1);
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined; // gone, or not ours to read
  }
  const script = argv.findIndex((arg) => /(^|\/)(unionmount|cli\/main\.js)$/.test(arg));
  if (script < 0) return undefined;
  const args = argv.slice(script + 1);
  // Other verbs take --upper too; only the mount command (the default one) serves a mount.
  if (args[0] !== 'mount' && !args[0]?.startsWith('-')) return undefined;
  const flag = (name: string): string | undefined => {
    const at = args.findIndex((a) => a === name || a.startsWith(name + '='));
    if (at < 0) return undefined;
    return args[at]!.includes('=') ? args[at]!.slice(name.length + 1) : args[at + 1];
  };
  const mountpoint = args.at(-1);
  if (mountpoint === undefined) return undefined;
  const upper = flag('--upper');
  return {
    kind: 'unionmount',
    mountpoint: resolve(cwd, mountpoint),
    lowers: (flag('--lower') ?? '')
      .split(':')
      .filter(Boolean)
      .map((dir) => resolve(cwd, dir)),
    upper: upper === undefined ? undefined : resolve(cwd, upper),
    pid,
  };
}

function realOrSame(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
