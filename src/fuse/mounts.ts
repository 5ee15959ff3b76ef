/**
 * Mount table queries and recovery of FUSE mounts, without ever touching a mount that may hang:
 * everything is read from /proc/self/mountinfo, and a dead or hung daemon's connection is aborted
 * through the fusectl filesystem before the mount is detached.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CONNECTIONS = '/sys/fs/fuse/connections';

export interface MountInfo {
  /** Unique per mount, so a new mount is told from a stale one at the same place. */
  id: number;
  mountpoint: string;
  fstype: string;
  source: string;
  /** `major:minor` of the filesystem: also the name of its backing device info in sysfs. */
  device: string;
  /** minor device number: the name of the FUSE connection in fusectl. */
  minor: number;
  /** The filesystem's own options, still escaped (overlay: `lowerdir=...,upperdir=...`). */
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
export const unescape = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export function mounts(): MountInfo[] {
  return readFileSync('/proc/self/mountinfo', 'latin1')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      return {
        id: Number(fields[0]),
        mountpoint: unescape(fields[4]!),
        fstype: fields[dash + 1]!,
        source: unescape(fields[dash + 2]!),
        device: fields[2]!,
        minor: Number(fields[2]!.split(':')[1]),
        superOptions: fields[dash + 3] ?? '',
      };
    });
}

/** The top-most mount at exactly `path`, if any. */
export function mountAt(path: string): MountInfo | undefined {
  return mounts()
    .filter((m) => m.mountpoint === path)
    .at(-1);
}

export const isFuse = (m: MountInfo): boolean =>
  m.fstype === 'fuse' || m.fstype.startsWith('fuse.');

/** Aborts the FUSE connection of the mount at `path`: every waiting request fails at once. */
export async function abortConnection(path: string): Promise<void> {
  const mount = mountAt(path);
  if (mount === undefined || !isFuse(mount)) return;
  if (!existsSync(`${CONNECTIONS}/${mount.minor}`)) {
    await run('mount', ['-t', 'fusectl', 'none', CONNECTIONS]).catch(() => undefined);
  }
  try {
    writeFileSync(`${CONNECTIONS}/${mount.minor}/abort`, '1');
  } catch {
    // The connection is gone already: nothing is waiting on it.
  }
}

/** Unmounts `path`; with `lazy`, detaches it even when busy. */
export async function unmount(path: string, options: { lazy?: boolean } = {}): Promise<void> {
  const args = options.lazy ? ['-uz', path] : ['-u', path];
  try {
    await run('fusermount', args);
  } catch (err) {
    if (process.getuid?.() !== 0) throw err;
    await run('umount', options.lazy ? ['-l', path] : [path]);
  }
}

/** Clears a mount whose daemon died or hangs: abort its connection, then detach it. */
export async function clearStaleMount(path: string): Promise<void> {
  await abortConnection(path);
  await unmount(path, { lazy: true });
}

/** True when `path` is a FUSE mount whose daemon is gone ("Transport endpoint is not connected").
 * statfs always reaches the daemon; a stat may be answered from the kernel's attribute cache. */
export async function isStale(path: string): Promise<boolean> {
  const mount = mountAt(path);
  if (mount === undefined || !isFuse(mount)) return false;
  try {
    await fsp.statfs(path);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}
