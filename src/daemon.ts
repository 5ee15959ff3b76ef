/**
 * Serving a union in this process: layers, overlay, FUSE adapter and binding wired together, and
 * the mount's lifecycle (stale-mount recovery, unmount, clean-up of an ephemeral upper).
 *
 * The process that serves a mount must not use the mount itself: a synchronous fs call on it would
 * wait for this very event loop. The CLI runs it as its own process; the library API starts a
 * child process (see api.ts).
 */
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnionConfig } from './config.js';
import { OverlayFormat, TRUSTED_PREFIX, USER_PREFIX } from './core/format.js';
import { Overlay, type RedirectDir, type UnionEvent } from './core/overlay.js';
import { WorkDir } from './core/workdir.js';
import { UnionmountError } from './errors.js';
import { createOps } from './fuse/adapter.js';
import type { FuseBinding } from './fuse/binding.js';
import type { MountStats } from './fuse/stats.js';
import { clearStaleMount, mountAt } from './fuse/mounts.js';
import { DiskLayer, WritableDiskLayer } from './layers/disk.js';

/** Where a served union reports its events and log lines. */
export interface ServeHooks {
  onEvent?: (event: UnionEvent) => void;
  log?: (message: string) => void;
  /** Requests, copy-ups and cache counters are recorded here (--stats). */
  stats?: MountStats;
}

/** A union served by this process (see serveUnion). */
export interface ServedUnion {
  readonly config: UnionConfig;
  readonly overlay: Overlay;
  /** Where writes land (a temporary directory with --ephemeral). */
  readonly upper: string | undefined;
  /** Unmounts; rejects with EBUSY when files are open, unless `lazy`. */
  unmount(options?: { lazy?: boolean }): Promise<void>;
  /** Settles once the mount is gone, by unmount() or from outside (fusermount -u). */
  readonly closed: Promise<void>;
}

const EXTERNAL_UNMOUNT_POLL_MS = 1000;
const DEV_SUID = ['dev', 'suid'];
/** Kernel cache timeout for names and attributes: long, since the kernel's view is kept exact. */
const CACHE_SECONDS = 3600;
/** Directory fds kept open by all layers together (each layer keeps its share, at least 8). */
const KEPT_DIR_FDS = 512;

/**
 * Mounts `config` and serves it in this process until unmounted. Never read the mount from the
 * same process synchronously: use mountUnion, which serves from a child process.
 */
export async function serveUnion(
  config: UnionConfig,
  hooks: ServeHooks = {},
): Promise<ServedUnion> {
  // The kernel applied the caller's umask already; ours must not mask modes a second time.
  process.umask(0);
  const scratch = config.ephemeral ? await fsp.mkdtemp(join(tmpdir(), 'unionmount-')) : undefined;
  const upperDir = scratch ? join(scratch, 'upper') : config.upper;
  const workDir = scratch ? join(scratch, 'work') : config.work;
  const overlay = await openOverlay(config.lowers, upperDir, workDir, {
    cache: config.cache,
    redirectDir: config.redirectDir,
    userxattr: config.userxattr,
    // A throw-away upper need not reach the disk: the kernel's volatile.
    volatile: config.volatile || config.ephemeral,
  });
  overlay.onEvent = hooks.onEvent;
  overlay.lookup.stats.enabled = config.cache;
  overlay.lookup.caching = config.cache;
  // The kernel reads and writes open files of the upper itself: registering them needs root.
  overlay.files.passthrough = config.cache && config.passthrough && process.geteuid?.() === 0;
  overlay.files.lendsReads = process.geteuid?.() === 0; // O_NOATIME on every lower file
  if (hooks.stats) recordStats(overlay, hooks.stats, hooks.onEvent);

  if (config.force) await clearStaleMount(config.mountpoint);
  const defaultPermissions = config.allowOther || process.geteuid?.() !== 0;
  // Names, attributes and file data may be cached: every change goes through the mount, and the
  // kernel learns of each. Where it would not, the attributes are marked volatile and never cached
  // (another name of a hard link, which libfuse 2 makes its own kernel inode), or the binding
  // drops them: after a LINK or an OPEN that copies up, and for the directories a copy-up changes.
  // auto_cache keeps a file's pages across opens while its mtime and size are unchanged (checked
  // at each open, so a write through another name of a hard link drops them).
  const timeout = config.cache ? CACHE_SECONDS : 0;
  const ops = createOps(overlay, {
    context: () => binding.context(),
    directories: {
      directoriesChanged: (paths) => binding.directoriesChanged(paths),
      directoryMoved: (from, to) => binding.directoryMoved(from, to),
    },
    log: hooks.log,
    stats: hooks.stats,
    options: () => ({
      pid: process.pid,
      lowers: config.lowers,
      upper: upperDir ?? null,
      work: workDir ?? null,
      ephemeral: config.ephemeral,
      allow_other: config.allowOther,
      default_permissions: defaultPermissions,
      cache: config.cache
        ? 'names, attributes, listings with attributes (readdirplus), file data (auto_cache), daemon lookups'
        : 'none',
      attr_timeout: timeout,
      entry_timeout: timeout,
      ...overlay.settings(),
    }),
  });
  const { FuseBinding } = await loadBinding();
  const binding: FuseBinding = new FuseBinding(config.mountpoint, ops, {
    allowOther: config.allowOther,
    // When others may enter, or rootless, the kernel checks permissions against the modes we
    // report, as on a plain filesystem. A root-only mount has one caller, root, whom every check
    // lets through: skipping them spares a GETATTR round trip per lower directory of every path
    // walk (those are never cached). Exec bits are still checked (the kernel, and access()).
    defaultPermissions,
    attrTimeout: timeout,
    autoCache: config.cache,
    cacheListings: config.cache,
    passthrough: overlay.files.passthrough ? (fh) => overlay.files.passedThrough(fh) : undefined,
    lend: (fh) => overlay.files.lend(fh),
    entryTimeout: timeout,
    negativeTimeout: timeout,
    // libfuse mounts nodev,nosuid; as kernel overlayfs, root's mounts serve devices and set-id
    // programs like the layers they come from.
    extra: [
      ...(upperDir === undefined ? ['ro'] : []),
      ...(process.getuid?.() === 0 ? DEV_SUID : []),
    ],
    log: hooks.log,
  });
  if (hooks.stats) hooks.stats.answeredInBinding = () => FuseBinding.answered();
  try {
    await binding.mount();
  } catch (err) {
    if (scratch) await fsp.rm(scratch, { recursive: true, force: true });
    throw new UnionmountError(
      `mountpoint ${config.mountpoint}: mount failed: ${(err as Error).message}`,
    );
  }

  let finished!: () => void;
  const closed = new Promise<void>((resolve) => (finished = resolve));
  const cleanUp = async (): Promise<void> => {
    clearInterval(watcher);
    await overlay.files.releaseAll();
    if (scratch) await fsp.rm(scratch, { recursive: true, force: true });
    finished();
  };
  const watcher = setInterval(() => {
    if (mountAt(config.mountpoint)?.fstype !== 'fuse.unionmount') void cleanUp();
  }, EXTERNAL_UNMOUNT_POLL_MS);

  return {
    config,
    overlay,
    upper: upperDir,
    closed,
    async unmount(options = {}) {
      await binding.unmount(options);
      await cleanUp();
    },
  };
}

function recordStats(
  overlay: Overlay,
  stats: MountStats,
  onEvent: ((event: UnionEvent) => void) | undefined,
): void {
  overlay.onEvent = (event) => {
    stats.event(event);
    onEvent?.(event);
  };
  const { lookup } = overlay;
  const stat = lookup.stats;
  stats.caches = () => [
    { name: 'lookup cache', hits: lookup.hits, misses: lookup.misses, size: lookup.size },
    { name: 'stat cache', hits: stat.hits, misses: stat.misses, size: stat.size },
  ];
}

/**
 * The binding is loaded only to mount, so every other command works without libfuse, and its
 * absence is one line naming the fix.
 */
async function loadBinding(): Promise<typeof import('./fuse/binding.js')> {
  try {
    return await import('./fuse/binding.js');
  } catch (err) {
    throw new UnionmountError((err as Error).message.split('\n')[0]!);
  }
}

/** The kernel's marker of an upper mounted with `volatile`, below `<workdir>/work`. */
const VOLATILE_MARKER = 'incompat/volatile';

export interface OverlayOptions {
  redirectDir?: RedirectDir;
  /** The kernel's userxattr format even as root (always so rootless). */
  userxattr?: boolean;
  /** The kernel's volatile: syncs are skipped and the upper is marked not to be reused. */
  volatile?: boolean;
  /** false: the layers may change behind the overlay, so nothing about them is kept. */
  cache?: boolean;
}

/** Builds the overlay over real directories, creating and cleaning the work directory. */
export async function openOverlay(
  lowers: readonly string[],
  upper?: string,
  work?: string,
  options: OverlayOptions = {},
): Promise<Overlay> {
  // Rootless (or asked for), the overlay's xattrs live under user.overlay.* (the kernel's
  // userxattr); rootless, objects keep the daemon's owner. In that format directories with lower
  // content do not move by default: the kernel does not follow redirects in that mode.
  const privileged = process.geteuid?.() === 0;
  const userxattr = options.userxattr === true || !privileged;
  const format = new OverlayFormat(userxattr ? USER_PREFIX : TRUSTED_PREFIX);
  const redirectDir = options.redirectDir ?? (userxattr ? 'off' : 'on');
  // Layers that change only through this overlay keep directory fds open for reuse.
  const share = Math.max(8, Math.floor(KEPT_DIR_FDS / (lowers.length + 2)));
  const keep = { keepDirs: options.cache === false ? 0 : share };
  const lowerLayers = lowers.map((dir, i) => new DiskLayer(i + 1, dir, keep));
  if (upper === undefined || work === undefined)
    return new Overlay({ lowers: lowerLayers, format, redirectDir, privileged });
  // The kernel's layout: temporary objects live in <workdir>/work.
  const scratch = join(work, 'work');
  if (!existsSync(upper)) await fsp.mkdir(upper, { recursive: true, mode: 0o755 });
  const upperLayer = new WritableDiskLayer(0, upper, keep);
  const other = format.claim(upperLayer);
  if (other !== undefined) {
    const how = other === 'user' ? 'with --userxattr, or as its rootless user' : 'as root';
    throw new UnionmountError(
      `upper layer ${upper}: written in the ${other}.overlay.* format; mount it ${how} (an upper never mixes the two formats)`,
      2,
    );
  }
  // The kernel's volatile marker: writes may never have reached the disk, so the upper is not
  // trusted again (the kernel refuses it too).
  if (existsSync(join(scratch, VOLATILE_MARKER))) {
    throw new UnionmountError(
      `upper layer ${upper}: was mounted volatile (${join(scratch, VOLATILE_MARKER)} exists); its writes may be incomplete: discard it, or remove the marker if you know better`,
      2,
    );
  }
  await fsp.mkdir(scratch, { recursive: true, mode: 0o700 });
  const workDir = new WorkDir(new WritableDiskLayer(-1, scratch, keep));
  await workDir.clean();
  if (options.volatile) await fsp.mkdir(join(scratch, VOLATILE_MARKER), { recursive: true });
  return new Overlay({
    lowers: lowerLayers,
    upper: { layer: upperLayer, work: workDir },
    format,
    redirectDir,
    privileged,
    volatile: options.volatile,
  });
}
