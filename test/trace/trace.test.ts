/**
 * The live trace on real mounts: `--trace` to stderr, a file or stdout, human or JSON lines, and
 * the same events from the library API. Every event type is caused by a real change through the
 * mount and checked against what landed in the upper.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, mountsBelow, testDir, union } from '../helpers/mounts.js';
import { mountAt } from '../../src/fuse/mounts.js';
import { formatEvent, parseTraceLine, traced, type TracedEvent } from '../../src/trace.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

interface Setup {
  base: string;
  app: string;
  upper: string;
  mnt: string;
}

/** Two lowers: `app` over `base`, an empty upper and a mountpoint. */
function layers(): Setup {
  const dir = testDir();
  const setup = {
    base: writeLayer(join(dir, 'base'), {
      'log/boot.log': 'boot: ok\n',
      'cache/a': 'a',
    }),
    app: writeLayer(join(dir, 'app'), { 'etc/app.conf': 'port=80\n', 'etc/motd': 'hi\n' }),
    upper: join(dir, 'upper'),
    mnt: join(dir, 'mnt'),
  };
  fs.mkdirSync(setup.upper);
  fs.mkdirSync(setup.mnt);
  return setup;
}

/** One of each event: copy-up (with parent), create, whiteout + delete, opaque directory. */
async function change(mnt: string): Promise<void> {
  await fs.promises.appendFile(join(mnt, 'log/boot.log'), 'boot: started\n');
  await fs.promises.writeFile(join(mnt, 'notes.txt'), 'milk');
  await fs.promises.unlink(join(mnt, 'etc/motd'));
  await fs.promises.rm(join(mnt, 'cache'), { recursive: true });
  await fs.promises.mkdir(join(mnt, 'cache'));
}

/** What `change` must produce, in order, as (type, path) pairs. */
const EXPECTED: [string, string][] = [
  ['copy-up', '/log'],
  ['copy-up', '/log/boot.log'],
  ['create', '/notes.txt'],
  ['copy-up', '/etc'],
  ['whiteout', '/etc/motd'],
  ['delete', '/etc/motd'],
  ['copy-up', '/cache'],
  ['whiteout', '/cache/a'],
  ['delete', '/cache/a'],
  ['whiteout', '/cache'],
  ['delete', '/cache'],
  ['opaque', '/cache'],
  ['create', '/cache'],
];

function checkEvents(events: TracedEvent[], setup: Setup): void {
  expect(events.map((e) => [e.type, e.path])).toEqual(EXPECTED);
  const boot = events.find((e) => e.path === '/log/boot.log');
  // The whole lower file is copied, from the layer that had it (lower 2: base).
  expect(boot).toMatchObject({ type: 'copy-up', layer: 2, from: setup.base, bytes: 9 });
  expect(events.find((e) => e.path === '/etc')).toMatchObject({ layer: 1, from: setup.app });
  for (const event of events) expect(Date.parse(event.time)).not.toBeNaN();
  expect(fs.readFileSync(join(setup.upper, 'log/boot.log'), 'utf8')).toBe(
    'boot: ok\nboot: started\n',
  );
  expect(fs.statSync(join(setup.upper, 'etc/motd')).isCharacterDevice()).toBe(true);
}

function startCli(args: string[]): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => out, stderr: () => err };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Mounts with the CLI, makes the changes, unmounts with SIGTERM; returns stdout and stderr. */
async function traceRun(setup: Setup, flags: string[]): Promise<{ out: string; err: string }> {
  const run = startCli([
    ...flags,
    '--lower',
    `${setup.app}:${setup.base}`,
    '--upper',
    setup.upper,
    setup.mnt,
  ]);
  const exit = new Promise((resolve) => run.child.once('exit', resolve));
  await until(() => mountAt(setup.mnt)?.fstype === 'fuse.unionmount', 'the mount');
  await change(setup.mnt);
  run.child.kill('SIGTERM');
  expect(await exit).toBe(0);
  return { out: run.stdout(), err: run.stderr() };
}

const jsonLines = (text: string): TracedEvent[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => parseTraceLine(line)!);

describe('--trace', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    '--trace FILE --trace-format json: JSON lines in the file',
    async () => {
      const setup = layers();
      const file = join(setup.upper, '..', 'trace.jsonl');
      const { out, err } = await traceRun(setup, [`--trace=${file}`, '--trace-format', 'json']);
      expect(out).toBe('');
      expect(err).not.toMatch(/copy-up/);
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines.every((line) => parseTraceLine(line) !== undefined)).toBe(true);
      checkEvents(jsonLines(lines.join('\n')), setup);
    },
  );

  it.skipIf(possible !== true)(
    '--trace alone: human lines on stderr naming the layer',
    async () => {
      const setup = layers();
      const { out, err } = await traceRun(setup, ['--trace']);
      expect(out).toBe('');
      const lines = err
        .split('\n')
        .filter((line) => !line.startsWith('unionmount:') && line !== '');
      expect(lines).toHaveLength(EXPECTED.length);
      expect(lines[1]).toMatch(
        new RegExp(
          `^copy-up  /log/boot.log from lower 2 ${setup.base} \\(9 bytes, \\d+\\.\\d ms\\)$`,
        ),
      );
      expect(lines).toContain('whiteout /etc/motd');
      expect(lines).toContain('opaque   /cache');
      expect(lines).toContain('create   /notes.txt');
      expect(lines).toContain('delete   /etc/motd');
    },
  );

  it.skipIf(possible !== true)(
    '--trace - writes to stdout, nothing traced without --trace',
    async () => {
      const setup = layers();
      const traced = await traceRun(setup, ['--trace', '-', '--trace-format=json']);
      checkEvents(jsonLines(traced.out), setup);

      const again = layers();
      const quiet = await traceRun(again, []);
      expect(quiet.out).toBe('');
      expect(quiet.err.trim().split('\n')).toEqual([
        expect.stringMatching(/^unionmount: mounted at/),
      ]);
    },
  );

  it.skipIf(possible !== true)(
    'a trace file that cannot be written: exit 2, nothing mounted',
    () => {
      const setup = layers();
      const bad = join(setup.upper, 'no/such/dir/trace.log');
      const result = spawnSync(
        process.execPath,
        [CLI, `--trace=${bad}`, '--lower', setup.base, '--upper', setup.upper, setup.mnt],
        { encoding: 'utf8' },
      );
      expect(result.status).toBe(2);
      expect(result.stderr).toBe(`unionmount: --trace ${bad}: cannot write (ENOENT)\n`);
      expect(mountsBelow(setup.mnt)).toEqual([]);
      expect(fs.readdirSync(setup.upper)).toEqual([]);
    },
  );

  it('refuses an unknown --trace-format', () => {
    const result = spawnSync(
      process.execPath,
      [CLI, '--trace-format', 'xml', '--lower', '/', '/'],
      {
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--trace-format.*xml.*human, json/);
  });
});

describe('events from the library API', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('events() yields the changes made through the mount', async () => {
    const setup = layers();
    const mounted = await union({
      lowers: [setup.app, setup.base],
      upper: setup.upper,
      mountpoint: setup.mnt,
    });
    const events = mounted.events();
    await change(setup.mnt);
    const seen: TracedEvent[] = [];
    for await (const event of events) {
      seen.push(event);
      if (seen.length === EXPECTED.length) break;
    }
    checkEvents(seen, setup);
    // The iterator ends when the daemon goes away.
    const after = mounted.events();
    await mounted.unmount();
    expect(await after.next()).toEqual({ done: true, value: undefined });
  });
});

describe('trace lines', () => {
  const time = new Date('2024-01-02T03:04:05.678Z');

  it('shows core paths as absolute UTF-8 paths', () => {
    const event = traced({ type: 'create', path: Buffer.from('dir/é').toString('latin1') }, time);
    expect(formatEvent(event, 'human')).toBe('create   /dir/é');
    expect(JSON.parse(formatEvent(event, 'json'))).toEqual({
      type: 'create',
      path: '/dir/é',
      time: '2024-01-02T03:04:05.678Z',
    });
  });

  it('formats a redirect and round-trips JSON lines', () => {
    const event = traced({ type: 'redirect', path: 'new/place', target: '/old/place' }, time);
    expect(formatEvent(event, 'human')).toBe('redirect /new/place -> /old/place');
    expect(parseTraceLine(formatEvent(event, 'json'))).toEqual(event);
    expect(parseTraceLine('unionmount: mounted at /x')).toBeUndefined();
    expect(parseTraceLine('{"no":"type"}')).toBeUndefined();
  });

  it('rounds copy-up milliseconds in JSON', () => {
    const event = traced(
      { type: 'copy-up', path: 'f', layer: 1, from: '/l', bytes: 3, ms: 1.23456789 },
      time,
    );
    expect(JSON.parse(formatEvent(event, 'json'))).toMatchObject({
      ms: 1.235,
      bytes: 3,
      from: '/l',
    });
    expect(formatEvent(event, 'human')).toBe('copy-up  /f from lower 1 /l (3 bytes, 1.2 ms)');
  });
});
