/**
 * Shared pieces of the reliability tests: the CLI as a real daemon process (so it can be killed),
 * waiting for conditions, seeded randomness and byte-exact trees.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mountAt } from '../../src/fuse/mounts.js';

export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/** Seconds from an env var, for the long modes (e.g. UNIONMOUNT_LOAD_SECONDS=60). */
export function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

export async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  const holds = (): boolean => {
    try {
      return condition();
    } catch {
      return false;
    }
  };
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const mounted = (mnt: string): boolean => mountAt(mnt)?.fstype === 'fuse.unionmount';

export interface Daemon {
  child: ChildProcess;
  exit: Promise<number | null>;
  stderr(): string;
}

/** Starts `unionmount ...args` and resolves once its mount is up. */
export async function startDaemon(args: string[], mnt: string): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, ...args, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdout.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until(() => mounted(mnt) || child.exitCode !== null, 'the mount');
  if (!mounted(mnt)) throw new Error(`unionmount did not mount: ${err}`);
  return { child, exit, stderr: () => err };
}

/** `unionmount umount MNT`: also clears the stale mount a killed daemon left. */
export function cliUmount(mnt: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [CLI, 'umount', mnt], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

export { rng } from '../helpers/random.mjs';

export const sha = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');
