/**
 * File data and times, compared with kernel overlayfs: O_APPEND atomicity with concurrent
 * appenders, mtime/ctime updated as a plain filesystem does, copy-up keeping times (to the
 * nanosecond), mode and owner, sparse files staying sparse through copy-up, and fallocate.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { file, type LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { mountPair, onBoth, type Op, runOps, trees } from './harness.js';

const OLD = 1_000_000_000_000_000_000; // 2001-09-09, in nanoseconds
const STAMP = '@1000000000.123456789';
const STAMP_NS = '1000000000123456789';
const MIB = 1 << 20;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

const lower: LayerSpec = {
  log: 'start\n',
  'times/f': file('timed\n', { mode: 0o751 }),
  'times/g': file('timed\n', { mode: 0o640 }),
  'times/h': 'timed\n',
  'w/write': 'w\n',
  'w/trunc': 'w\n',
  'w/chmod': 'w\n',
  'w/ftrunc': 'w\n',
  sparse: '',
  prealloc: '',
};

/** What a layer spec cannot state: times with nanoseconds, owners, a hole. */
function prepare({ lowers }: { lowers: string[] }): void {
  const root = lowers[0]!;
  for (const name of ['times/f', 'times/g', 'times/h'])
    execFileSync('touch', ['-h', '-d', STAMP, join(root, name)]);
  chownSync(join(root, 'times/f'), 1, 2);
  truncateSync(join(root, 'sparse'), 8 * MIB);
  execFileSync('dd', [
    'if=/dev/zero',
    `of=${join(root, 'sparse')}`,
    'bs=4096',
    'count=1',
    `seek=${(8 * MIB) / 4096 - 1}`,
    'conv=notrunc',
    'status=none',
  ]);
}

const timesOps: Op[] = [
  // copy-up by an xattr, by open for writing without a write, by chown: times, mode, owner kept
  ['setxattr', 'times/f', 'user.x', '1'],
  ['times', 'times/f'],
  ['stat', 'times/f'],
  ['open', 'times/g', 'rw'],
  ['times', 'times/g'],
  ['chown', 'times/h', 3, 4],
  ['times', 'times/h'],
  ['stat', 'times/h'],
  // what changes mtime, and that ctime follows
  ...['write', 'trunc', 'chmod', 'ftrunc'].map((n): Op => ['utime', `w/${n}`, OLD, OLD]),
  ['append', 'w/write', 'more'],
  ['truncate', 'w/trunc', 1],
  ['chmod', 'w/chmod', 0o600],
  ['open', 'w/ftrunc', 'rw'],
  ['ftruncate', 1, 0],
  ...['write', 'trunc', 'chmod', 'ftrunc'].flatMap((n): Op[] => [
    ['mtime_is', `w/${n}`, OLD],
    ['ctime_ge_mtime', `w/${n}`],
  ]),
];

const sparseOps: Op[] = [
  ['blocks', 'sparse'],
  ['chmod', 'sparse', 0o600],
  ['blocks', 'sparse'],
  ['stat', 'sparse'],
];

const fallocateOps: Op[] = [
  ['open', 'prealloc', 'rw'],
  ['fallocate', 0, 0, 0, MIB],
  ['stat', 'prealloc'],
  ['blocks', 'prealloc'],
  ['fallocate', 0, FALLOC_FL_KEEP_SIZE, MIB, MIB],
  ['stat', 'prealloc'],
  ['blocks', 'prealloc'],
  ['fallocate', 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, MIB],
  ['blocks', 'prealloc'],
  ['fallocate', 0, FALLOC_FL_PUNCH_HOLE, 0, MIB],
];

/** Appenders in parallel processes, each line written by one write(2) with O_APPEND. */
function appenders(path: string, writers: number, lines: number): Promise<void[]> {
  const script = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
line = (sys.argv[2] * 63 + "\\n").encode()
for _ in range(${lines}):
    os.write(fd, line)
`;
  return Promise.all(
    Array.from({ length: writers }, (_, i) => {
      const child = spawn('/usr/bin/python3', ['-c', script, path, String.fromCharCode(97 + i)]);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      return new Promise<void>((resolve, reject) =>
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`appender ${i}: ${stderr}`)),
        ),
      );
    }),
  );
}

describe('data', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('O_APPEND: concurrent appenders never overwrite', async () => {
    const pair = await mountPair({ lowers: [lower] });
    const [writers, lines] = [4, 400];
    await appenders(join(pair.union.root, 'log'), writers, lines);
    const text = readFileSync(join(pair.union.root, 'log'), 'latin1');
    const body = text.split('\n').slice(1, -1);
    expect(text.startsWith('start\n')).toBe(true);
    expect(body.length).toBe(writers * lines);
    expect(body.filter((line) => !/^([a-d])\1{62}$/.test(line))).toEqual([]);
  });

  it.skipIf(possible !== true)(
    'times, mode and owner: copy-up keeps them, writes update them',
    async () => {
      const pair = await mountPair({ lowers: [lower], prepare });
      const results = onBoth(pair, timesOps);
      expect(results.union).toEqual(results.kernel);
      expect(results.union[1]).toBe(
        `["times","times/f"] → ["ok",{"atime":"${STAMP_NS}","mtime":"${STAMP_NS}"}]`,
      );
      const tree = trees(pair);
      expect(tree.union).toEqual(tree.kernel);
    },
  );

  it.skipIf(possible !== true)('sparse files stay sparse through copy-up', async () => {
    const pair = await mountPair({ lowers: [lower], prepare });
    const results = onBoth(pair, sparseOps);
    const [lowerBlocks] = runOps(pair.union.lowers[0]!, [['blocks', 'sparse']]);
    expect(lowerBlocks![1]).toBeLessThan(64);
    expect(results.union).toEqual(results.kernel);
  });

  it.skipIf(possible !== true)('fallocate: allocate, keep size, punch holes', async () => {
    const pair = await mountPair({ lowers: [lower] });
    const results = onBoth(pair, fallocateOps);
    expect(results.union).toEqual(results.kernel);
    expect(results.union[1]).toBe(`["fallocate",0,0,0,${MIB}] → ["ok"]`);
  });
});
