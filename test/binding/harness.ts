// Mount helper for binding tests: transpiles src/fuse/binding.ts and what it imports (types stripped, no type check,
// so the tests do not depend on the rest of src/ compiling), forks the passthrough daemon and
// guarantees that no mount survives the test file, even after a failure.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { CallerContext } from '../../src/fuse/ops.js';
import type { MountOptions } from '../../src/fuse/binding.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

/** Mounting needs /dev/fuse and root (mount(2)) or fusermount. With CI=true, not being able to
 * mount is a failure, not a skip. */
export const canMount =
  fs.existsSync('/dev/fuse') && (process.getuid?.() === 0 || hasCommand('fusermount'));
export const mustMount = process.env.CI === 'true';

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Inside node_modules so that the module's createRequire finds fuse-native. */
function transpileBinding(): string {
  const out = path.join(repo, 'node_modules/.cache/unionmount-binding-test/fuse');
  fs.mkdirSync(out, { recursive: true });
  for (const name of ['binding', 'ops', 'mounts']) {
    const src = fs.readFileSync(path.join(repo, `src/fuse/${name}.ts`), 'utf8');
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    fs.writeFileSync(path.join(out, `${name}.js`), js);
  }
  return path.join(out, 'binding.js');
}

export interface DaemonStats {
  tasks: number;
  locals: number;
  fds: number;
}

export interface Mount {
  mnt: string;
  backing: string;
  pid: number;
  stderr(): string;
  stats(): Promise<DaemonStats>;
  ctx(p: string): Promise<CallerContext | undefined>;
  /** Asks the daemon to unmount; rejects (daemon keeps serving) when that fails. */
  unmount(lazy?: boolean): Promise<unknown>;
  close(): Promise<void>;
}

export interface StartOptions {
  options?: MountOptions;
  inoOffset?: number;
  /** Prepare the backing directory before mounting. */
  seed?: (backing: string) => void;
}

export async function startMount(opts: StartOptions = {}): Promise<Mount> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'um-binding-'));
  const backing = path.join(dir, 'backing');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  fs.chmodSync(dir, 0o755); // other uids must reach the mountpoint
  opts.seed?.(backing);
  const child = fork(path.join(here, 'passthrough.mjs'), [], {
    env: {
      ...process.env,
      BINDING_MODULE: transpileBinding(),
      BACKING: backing,
      MNT: mnt,
      MOUNT_OPTIONS: JSON.stringify(opts.options ?? {}),
      INO_OFFSET: String(opts.inoOffset ?? 0),
    },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitReady(child, () => stderr);
  } catch (err) {
    await cleanup(child, mnt);
    throw err;
  }
  const rpc = makeRpc(child);
  return {
    mnt,
    backing,
    pid: child.pid!,
    stderr: () => stderr,
    stats: () => rpc({ cmd: 'stats' }) as Promise<DaemonStats>,
    ctx: (p) => rpc({ cmd: 'ctx', path: p }) as Promise<CallerContext | undefined>,
    unmount: (lazy = false) => rpc({ cmd: 'unmount', lazy }),
    close: async () => {
      await rpc({ cmd: 'unmount' }).catch(() => undefined);
      await cleanup(child, mnt);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function waitReady(child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mount timed out: ${stderr()}`)), 15_000);
    child.on('message', (m: { ready?: boolean }) => {
      if (!m.ready) return;
      clearTimeout(timer);
      resolve();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before mounting: ${stderr()}`));
    });
  });
}

function makeRpc(child: ChildProcess) {
  let next = 0;
  return (msg: object): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => reject(new Error('daemon did not answer')), 10_000);
      type Reply = { id?: number; value?: unknown; error?: { message: string; code?: string } };
      const onMessage = (m: Reply) => {
        if (m.id !== id) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        if (m.error) reject(Object.assign(new Error(m.error.message), m.error));
        else resolve(m.value);
      };
      child.on('message', onMessage);
      child.send({ ...msg, id });
    });
}

const isMounted = (mnt: string): boolean =>
  fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Abort the FUSE connection (unblocks every waiter), for a daemon that no longer answers. */
function abortConnection(mnt: string): void {
  const line = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === mnt);
  const minor = line?.split(' ')[2]?.split(':')[1];
  const conns = '/sys/fs/fuse/connections';
  if (!minor) return;
  if (!fs.existsSync(path.join(conns, minor))) tryRun('mount', ['-t', 'fusectl', 'none', conns]);
  try {
    fs.writeFileSync(path.join(conns, minor, 'abort'), '1');
  } catch {
    // already gone
  }
}

async function cleanup(child: ChildProcess, mnt: string): Promise<void> {
  if (isMounted(mnt) && !tryRun('fusermount', ['-u', mnt])) {
    abortConnection(mnt);
    if (!tryRun('umount', ['-l', mnt])) tryRun('fusermount', ['-uz', mnt]);
  }
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  if (isMounted(mnt)) throw new Error(`mount left behind at ${mnt}`);
}

/** Runs a python3 snippet; argv after the script are strings. Returns stdout. */
export function py(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Runs a shell command as uid/gid 65534 with no supplementary groups. */
export function asNobody(cmd: string): string {
  const args = ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', cmd];
  return execFileSync('setpriv', args, { encoding: 'utf8', timeout: 30_000 });
}
