/**
 * Starting a daemon in a child process and waiting until its mount is ready: used by the mount(8)
 * helper (which then leaves it running) and by the library API (which owns it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { openSync, readFileSync, rmSync, closeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnionmountError } from './errors.js';

export const CLI = fileURLToPath(new URL('./cli/main.js', import.meta.url));

/**
 * V8 flags of a daemon, as the CLI's shebang line gives them: a 1 MiB young generation instead
 * of 16 keeps the short-lived garbage of a metadata walk (a stat per name) from inflating the RSS
 * (native-notes/performance.md, Memory).
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'];
export const READY_FD_ENV = 'UNIONMOUNT_READY_FD';
/** The daemon's descriptor for JSON trace lines, when the parent asks for events. */
export const EVENTS_FD = 4;

export interface Daemon {
  child: ChildProcess;
  /** What the daemon wrote to stderr so far. */
  log(): string;
  /** The daemon's end of this is its descriptor EVENTS_FD (only with `events`). */
  events?: Readable;
  /** Removes the log file. */
  dispose(): void;
}

/** Runs `unionmount ARGS...` and resolves once the daemon has mounted. */
export async function startDaemon(
  args: string[],
  options: { detached?: boolean; timeoutMs?: number; events?: boolean } = {},
): Promise<Daemon> {
  const logDir = mkdtempSync(join(tmpdir(), 'unionmount-log-'));
  const logPath = join(logDir, 'daemon.log');
  const logFd = openSync(logPath, 'w');
  // The daemon says "ready" on fd 3 once mounted: the mount table alone cannot tell a new mount
  // from a stale one at the same place (mount ids are reused).
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, CLI, ...args], {
    stdio: ['ignore', logFd, logFd, 'pipe', ...(options.events ? ['pipe' as const] : [])],
    detached: options.detached ?? false,
    env: { ...process.env, [READY_FD_ENV]: '3' },
  });
  closeSync(logFd);
  const daemon: Daemon = {
    child,
    log: () => readFileSync(logPath, 'utf8'),
    events: options.events ? (child.stdio[EVENTS_FD] as Readable) : undefined,
    dispose: () => rmSync(logDir, { recursive: true, force: true }),
  };
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.timeoutMs ?? 30_000);
    const pipe = child.stdio[3] as Readable;
    pipe.once('data', () => resolve(true));
    child.once('exit', () => resolve(false));
    void once(pipe, 'close').then(() => clearTimeout(timer));
  });
  (child.stdio[3] as Readable).destroy();
  if (!ready) {
    if (child.exitCode === null) child.kill('SIGKILL');
    const reason = lastLine(daemon.log()) ?? 'the daemon did not mount in time';
    daemon.dispose();
    throw new UnionmountError(reason.replace(/^unionmount: /, ''));
  }
  return daemon;
}

const lastLine = (text: string): string | undefined =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .at(-1);
