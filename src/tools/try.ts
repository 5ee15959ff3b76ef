/**
 * `try`: runs a command over a directory with its writes caught in a fresh upper layer. The union
 * is mounted over the directory's own path inside a private mount namespace (util-linux unshare),
 * so the command sees it at the usual place and every other process keeps seeing the directory
 * unchanged. Inside the namespace the directory is first bind-mounted beside the sandbox: the
 * daemon reads the lower there, never through its own mount.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { mountUnion } from '../api.js';
import { type Entry, isDir } from '../core/entry.js';
import { UnionmountError } from '../errors.js';
import { DiskLayer, WritableDiskLayer } from '../layers/disk.js';
import { CLI } from '../spawn.js';
import { TreeWriter } from './copy.js';
import { changesOf, type ChangeKind } from './diff.js';
import { defaultWork } from './discard.js';
import { recordManifest, writeManifest } from './sandbox.js';
import { display, openStack } from './stack.js';

const run = promisify(execFile);
const STATUS_FD = 3;

export interface Sandbox {
  upper: string;
  work: string;
  /** The temporary directory holding both, removed when the sandbox is not kept. */
  temporary: string | undefined;
}

const inside = (path: string, dir: string): boolean =>
  path === dir || path.startsWith(dir === '/' ? '/' : dir + '/');

/**
 * A fresh upper for `dir` (at `keep`, or in a temporary directory) whose root has `dir`'s owner,
 * mode and times, as the kernel's copy-up of the root would, and the manifest of `dir`.
 */
export async function createSandbox(dir: string, keep: string | undefined): Promise<Sandbox> {
  let sandbox: Sandbox;
  if (keep === undefined) {
    const temporary = await fsp.mkdtemp(join(tmpdir(), 'unionmount-try-'));
    sandbox = { upper: join(temporary, 'upper'), work: '', temporary };
  } else {
    if (existsSync(keep) && readdirSync(keep).length > 0)
      throw new UnionmountError(`sandbox ${keep}: exists and is not empty`, 2);
    sandbox = { upper: keep, work: '', temporary: undefined };
  }
  sandbox.work = defaultWork(sandbox.upper);
  for (const path of [sandbox.upper, sandbox.work]) {
    if (inside(path, dir) || inside(dir, path)) {
      if (sandbox.temporary) await fsp.rm(sandbox.temporary, { recursive: true });
      throw new UnionmountError(
        `sandbox ${path}: overlaps the directory ${dir}; choose one outside it with --keep`,
        2,
      );
    }
  }
  await fsp.mkdir(sandbox.upper, { recursive: true });
  await fsp.mkdir(sandbox.work, { recursive: true, mode: 0o700 });
  const lower = new DiskLayer(1, dir);
  const root = new TreeWriter(new WritableDiskLayer(0, sandbox.upper), () => false);
  await root.attributes(lower, '', (await lower.lstat(''))!, '');
  root.finish();
  await writeManifest(sandbox.upper, await recordManifest(dir));
  return sandbox;
}

export async function removeSandbox(sandbox: Sandbox): Promise<void> {
  if (sandbox.temporary) await fsp.rm(sandbox.temporary, { recursive: true, force: true });
}

/** Runs `argv` in a private mount namespace with the union over `dir`; its exit status. */
export async function runInNamespace(
  dir: string,
  sandbox: Sandbox,
  argv: string[],
): Promise<number> {
  const inner = JSON.stringify({ dir, upper: sandbox.upper, work: sandbox.work });
  const child = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      process.execPath,
      CLI,
      'try',
      '--inside',
      inner,
      '--',
      ...argv,
    ],
    { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] },
  );
  const report = readAll(child.stdio[STATUS_FD] as Readable);
  const code = await whileIgnoringSignals(exitOf(child));
  const status = /^status (\d+)$/m.exec(await report);
  if (status === null)
    throw new UnionmountError(`try: the command did not run in its namespace (exit ${code})`);
  return Number(status[1]);
}

/**
 * Inside the namespace: binds `dir` beside the upper, mounts the union over `dir`, runs `argv`,
 * unmounts, and reports the status on fd 3.
 */
export async function runInside(
  { dir, upper, work }: { dir: string; upper: string; work: string },
  argv: string[],
): Promise<void> {
  const bind = await fsp.mkdtemp(join(dirname(upper), `.${basename(upper)}.lower-`));
  try {
    await run('mount', ['--bind', '-o', 'ro', dir, bind]);
    try {
      const union = await mountUnion({ lowers: [bind], upper, work, mountpoint: dir });
      let status: number;
      try {
        status = await whileIgnoringSignals(runCommand(argv));
      } finally {
        await union.unmount();
      }
      writeSync(STATUS_FD, `status ${status}\n`);
    } finally {
      await run('umount', [bind]);
    }
  } finally {
    await fsp.rmdir(bind);
  }
}

/** The command's exit status (128 + signal when killed, 127 when not found), as a shell gives. */
async function runCommand(argv: string[]): Promise<number> {
  // A cwd given by path is entered anew: inside `dir`, that is the union mounted over it.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', cwd: process.cwd() });
  return new Promise((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(
        `unionmount: ${argv[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`,
      );
      resolve(err.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
  });
}

async function exitOf(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
  });
}

const exitStatus = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : (osSignals[signal] ?? 0));

const osSignals: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** The terminal's signals are the command's to handle: we wait for it to finish. */
async function whileIgnoringSignals<T>(work: Promise<T>): Promise<T> {
  const ignore = (): void => undefined;
  const signals = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, ignore);
  try {
    return await work;
  } finally {
    for (const signal of signals) process.off(signal, ignore);
  }
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

export interface SizedChange {
  kind: ChangeKind;
  path: string;
  dir: boolean;
  /** Bytes before (C, D) and after (A, C) of a non-directory. */
  before?: bigint;
  after?: bigint;
}

/** The upper's changes over `dir` (see diff.ts) with the sizes of the objects involved. */
export async function sizedChanges(dir: string, upper: string): Promise<SizedChange[]> {
  const before = openStack([dir]);
  const after = openStack([dir], upper);
  const sized: SizedChange[] = [];
  for (const { kind, rel } of await changesOf(before, after)) {
    const old = kind === 'A' ? undefined : await before.merged.lookup.find(rel);
    const now = kind === 'D' ? undefined : await after.merged.lookup.find(rel);
    const dirs = (now ?? old)!;
    sized.push({
      kind,
      path: display(rel),
      dir: isDir(dirs),
      before: old && !isDir(old) ? await sizeOf(old) : undefined,
      after: now && !isDir(now) ? await sizeOf(now) : undefined,
    });
  }
  return sized;
}

async function sizeOf(entry: Entry): Promise<bigint> {
  const { layer, rel } = entry.stack[0]!;
  return (await layer.lstat(rel))?.size ?? 0n;
}
