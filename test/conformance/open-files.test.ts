/**
 * Unlink and rename of open files, compared with kernel overlayfs: the open descriptor keeps
 * reading and writing, fstat shows no links, no helper file (.fuse_hidden*) ever shows in the
 * merged view or stays in the upper, and the emptied directory can be removed.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import { mountPair, onBoth, type Op, trees } from './harness.js';

const lower: LayerSpec = {
  'd/lowerfile': 'lower data\n',
  'd/target': 'target\n',
  'd/renamed': 'renamed lower\n',
};

/** fd indexes: 0 new, 1 lowerfile (copied up by the open), 2 target (lower, read-only), 3 src,
 * 4 target once replaced, 5 other, 6 renamed (copied up). */
const ops: Op[] = [
  ['create', 'd/new', 0o644],
  ['fwrite', 0, 'hello'],
  ['unlink', 'd/new'],
  ['listdir', 'd'],
  ['fstat', 0],
  ['fwrite', 0, ' world'],
  ['pread', 0, 100, 0],
  ['ftruncate', 0, 3],
  ['fstat', 0],
  ['open', 'd/lowerfile', 'rw'],
  ['unlink', 'd/lowerfile'],
  ['pwrite', 1, 'LOWER', 0],
  ['pread', 1, 100, 0],
  ['fstat', 1],
  ['open', 'd/target', 'r'],
  ['create', 'd/src', 0o644],
  ['fwrite', 3, 'src data'],
  ['rename', 'd/src', 'd/target'],
  ['pread', 2, 100, 0],
  ['fstat', 2],
  ['pread', 3, 100, 0],
  ['fstat', 3],
  ['read', 'd/target'],
  ['open', 'd/target', 'rw'],
  ['create', 'd/other', 0o600],
  ['rename', 'd/other', 'd/target'],
  ['pwrite', 4, 'SRC', 0],
  ['pread', 4, 100, 0],
  ['fstat', 4],
  ['read', 'd/target'],
  ['open', 'd/renamed', 'a'],
  ['rename', 'd/renamed', 'moved'],
  ['fwrite', 6, 'appended\n'],
  ['read', 'moved'],
  ['fstat', 6],
  ['listdir', 'd'],
  ['unlink', 'd/target'],
  ['listdir', 'd'],
  ['rmdir', 'd'],
  ['fstat', 4],
  ['pread', 4, 100, 0],
  ['listdir', ''],
  ...[0, 1, 2, 3, 4, 5, 6].map((i): Op => ['close', i]),
  ['listdir', ''],
];

const hidden = (lines: string[]): string[] => lines.filter((l) => l.includes('.fuse_hidden'));

describe('unlink and rename of open files', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('the open descriptor lives on, as on the kernel', async () => {
    const pair = await mountPair({ lowers: [lower] });
    const results = onBoth(pair, ops);
    expect(results.union).toEqual(results.kernel);
    expect(results.union).toContain(
      `["fstat",0] → ["ok",{"type":32768,"mode":"0o644","uid":0,"gid":0,"size":5,"nlink":0}]`,
    );
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
    expect(hidden(snapshot(pair.union.upper))).toEqual([]);
    expect(readdirSync(pair.union.upper).sort()).toEqual(['d', 'moved']);
  });
});
