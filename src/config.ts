/**
 * Mount options as users give them, checked before anything is created or mounted. Every problem
 * is one UnionmountError whose message names the path and the problem.
 */
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  promises as fsp,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { RedirectDir } from './core/overlay.js';
import { UnionmountError } from './errors.js';
import { isStale, mountAt } from './fuse/mounts.js';

/** Mount options as the user gives them (relative paths allowed), before any check. */
export interface UnionOptions {
  /** Lower layers, top first (the kernel's lowerdir order). */
  lowers: string[];
  /** The writable layer; omitted: a read-only union. */
  upper?: string;
  /** Scratch directory on the upper's filesystem; default: `<upper>.work` beside the upper. */
  work?: string;
  mountpoint: string;
  /** A fresh temporary upper, deleted at unmount: every write is thrown away. */
  ephemeral?: boolean;
  /** Let other users in (implies the kernel's permission checks). */
  allowOther?: boolean;
  /** Clear a stale mount at the mountpoint first. */
  force?: boolean;
  /** Let the kernel cache attributes and names (the layers change only through the mount). */
  cache?: boolean;
  /** As root with caching on (Linux 6.9+): the kernel reads and writes open upper files itself. */
  passthrough?: boolean;
  /** The kernel's redirect_dir: how renamed directories with lower content are handled. */
  redirectDir?: RedirectDir;
  /** The kernel's userxattr format (user.overlay.*) even as root; always so rootless. */
  userxattr?: boolean;
  /** The kernel's volatile: no syncs, and the upper is marked never to be mounted again. */
  volatile?: boolean;
}

/** Checked options: real paths, defaults filled in; what the daemon mounts. */
export interface UnionConfig {
  lowers: string[];
  upper: string | undefined;
  work: string | undefined;
  mountpoint: string;
  ephemeral: boolean;
  allowOther: boolean;
  force: boolean;
  cache: boolean;
  passthrough: boolean;
  /** Undefined: the default for who mounts ('on' as root, 'off' rootless). */
  redirectDir: RedirectDir | undefined;
  userxattr: boolean;
  volatile: boolean;
}

const FUSE_DEVICE = '/dev/fuse';

const usage = (message: string): UnionmountError => new UnionmountError(message, 2);

/** The real path of an existing directory, or a usage error naming it. */
export async function directory(path: string, role: string): Promise<string> {
  let real: string;
  try {
    real = await fsp.realpath(path);
  } catch {
    throw usage(`${role} ${path}: no such directory`);
  }
  if (!statSync(real).isDirectory()) throw usage(`${role} ${path}: not a directory`);
  return real;
}

const inside = (path: string, dir: string): boolean =>
  path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');

const REDIRECT_MODES: readonly RedirectDir[] = ['on', 'follow', 'nofollow', 'off'];

function redirectMode(mode: string): RedirectDir {
  if (!(REDIRECT_MODES as readonly string[]).includes(mode))
    throw usage(`--redirect-dir ${mode}: must be one of ${REDIRECT_MODES.join(', ')}`);
  return mode as RedirectDir;
}

/** `a:b:c` → ['a','b','c'], refusing empty components. */
export function splitLowers(spec: string): string[] {
  const parts = spec.split(':');
  if (parts.some((p) => p === '')) throw usage(`--lower ${spec}: empty layer name`);
  return parts;
}

/** Checks `options` before anything is created or mounted; bad input is a UnionmountError with exit code 2. */
/** /dev/fuse must exist and be open to us, else libfuse fails with a bare "fuse failed". */
function checkFuseDevice(): void {
  if (!existsSync(FUSE_DEVICE))
    throw new UnionmountError(`${FUSE_DEVICE}: missing (load the fuse module: modprobe fuse)`);
  try {
    accessSync(FUSE_DEVICE, fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    const mode = (statSync(FUSE_DEVICE).mode & 0o777).toString(8).padStart(4, '0');
    throw new UnionmountError(
      `${FUSE_DEVICE}: permission denied (mode ${mode}); as root run chmod 0666 ${FUSE_DEVICE} (the stock Debian mode), or mount as root`,
    );
  }
}

export async function resolveConfig(options: UnionOptions): Promise<UnionConfig> {
  checkFuseDevice();
  if (options.lowers.length === 0) throw usage('--lower: at least one lower layer is needed');
  if (options.ephemeral && options.upper !== undefined)
    throw usage('--ephemeral and --upper: choose one (--ephemeral makes its own upper)');
  const lowers: string[] = [];
  for (const lower of options.lowers) lowers.push(await directory(lower, 'lower layer'));
  const upper =
    options.upper === undefined ? undefined : await directory(options.upper, 'upper layer');
  const work = upper === undefined ? undefined : await workDir(upper, options.work);
  const mountpoint = await mountpointDir(options);

  const layers: [string, string][] = [
    ...lowers.map((l, i): [string, string] => [`lower layer ${options.lowers[i]}`, l]),
    ...(upper ? [[`upper layer ${options.upper}`, upper] as [string, string]] : []),
    ...(work ? [[`work directory ${options.work ?? work}`, work] as [string, string]] : []),
  ];
  checkOverlaps(layers);
  for (const [role, dir] of layers) {
    if (inside(mountpoint, dir))
      throw usage(`mountpoint ${options.mountpoint}: inside the ${role}`);
  }
  if (work !== undefined && !existsSync(work)) {
    await fsp.mkdir(work, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      throw usage(`work directory ${work}: cannot create it (${err.code}); choose one with --work`);
    });
  }
  return {
    lowers,
    upper,
    work,
    mountpoint,
    ephemeral: options.ephemeral ?? false,
    allowOther: options.allowOther ?? false,
    force: options.force ?? false,
    cache: options.cache ?? true,
    passthrough: options.passthrough ?? true,
    redirectDir: options.redirectDir === undefined ? undefined : redirectMode(options.redirectDir),
    userxattr: options.userxattr ?? false,
    volatile: options.volatile ?? false,
  };
}

/** The work directory's real path; a default one is created only once every check passed. */
async function workDir(upper: string, given: string | undefined): Promise<string> {
  if (given !== undefined) {
    const real = await directory(given, 'work directory');
    if (statSync(real).dev !== statSync(upper).dev)
      throw usage(`work directory ${given}: not on the upper layer's filesystem`);
    return real;
  }
  return join(dirname(upper), `${basename(upper)}.work`);
}

/** Refuses two layers (role, real path) that are the same directory or one inside the other. */
export function checkOverlaps(layers: [string, string][]): void {
  for (const [i, [roleA, a]] of layers.entries()) {
    for (const [roleB, b] of layers.slice(i + 1)) {
      if (a === b) throw usage(`${roleB}: the same directory as the ${roleA}`);
      if (inside(a, b)) throw usage(`${roleA}: inside the ${roleB}`);
      if (inside(b, a)) throw usage(`${roleB}: inside the ${roleA}`);
    }
  }
}

/** The mountpoint, checked without touching a mount there (a dead one would fail every call). */
async function mountpointDir(options: UnionOptions): Promise<string> {
  const path = resolve(options.mountpoint);
  if (mountAt(path) === undefined) return directory(options.mountpoint, 'mountpoint');
  await checkMounted(path, options);
  return path;
}

async function checkMounted(mountpoint: string, options: UnionOptions): Promise<void> {
  if (await isStale(mountpoint)) {
    if (options.force) return;
    throw usage(
      `mountpoint ${options.mountpoint}: stale mount left by a daemon that died ` +
        `(Transport endpoint is not connected); run 'unionmount umount ${options.mountpoint}' or mount with --force`,
    );
  }
  throw usage(`mountpoint ${options.mountpoint}: already mounted`);
}
