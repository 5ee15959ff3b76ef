/**
 * Starting a daemon in a child process and waiting until its mount is ready: used by the mount(8)
 * helper (which then leaves it running) and by the library API (which owns it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, rmSync, closeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnionmountError } from './errors.js';
import { mountAt } from './fuse/mounts.js';

export const CLI = fileURLToPath(new URL('./cli/main.js', import.meta.url));
const POLL_MS = 20;

export interface Daemon {
  child: ChildProcess;
  /** What the daemon wrote to stderr so far. */
  log(): string;
  /** Removes the log file. */
  dispose(): void;
}

/** Runs `unionmount ARGS...` and resolves once `mountpoint` shows a unionmount mount. */
export async function startDaemon(
  args: string[],
  mountpoint: string,
  options: { detached?: boolean; timeoutMs?: number } = {},
): Promise<Daemon> {
  const logDir = mkdtempSync(join(tmpdir(), 'unionmount-log-'));
  const logPath = join(logDir, 'daemon.log');
  const logFd = openSync(logPath, 'w');
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', logFd, logFd],
    detached: options.detached ?? false,
  });
  closeSync(logFd);
  const daemon: Daemon = {
    child,
    log: () => readFileSync(logPath, 'utf8'),
    dispose: () => rmSync(logDir, { recursive: true, force: true }),
  };
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (mountAt(mountpoint)?.fstype !== 'fuse.unionmount') {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill('SIGKILL');
      const reason = lastLine(daemon.log()) ?? 'the daemon did not mount in time';
      daemon.dispose();
      throw new UnionmountError(reason.replace(/^unionmount: /, ''));
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return daemon;
}

const lastLine = (text: string): string | undefined =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .at(-1);
