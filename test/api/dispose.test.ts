/**
 * The library API's resource management: `await using` unmounts at the end of the scope, also when
 * the scope throws, and a temporary mountpoint is removed with the mount.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mountUnion } from '../../dist/index.js';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, mountsBelow, testDir } from '../helpers/mounts.js';

describe('mountUnion with await using', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it('runs on a Node with Symbol.asyncDispose (no polyfill needed from Node 20.4)', () => {
    expect(typeof Symbol.asyncDispose).toBe('symbol');
  });

  it.skipIf(possible !== true)('unmounts when the scope ends', async () => {
    const lower = writeLayer(join(testDir(), 'lower'), { 'f.txt': 'lower\n' });
    let mountpoint: string;
    {
      await using union = await mountUnion({ lowers: [lower], ephemeral: true });
      mountpoint = union.mountpoint;
      expect(mountsBelow(mountpoint)).toEqual([mountpoint]);
      expect(readFileSync(join(mountpoint, 'f.txt'), 'utf8')).toBe('lower\n');
    }
    expect(mountsBelow(mountpoint)).toEqual([]);
    expect(existsSync(mountpoint)).toBe(false);
  });

  it.skipIf(possible !== true)('unmounts when the scope throws', async () => {
    const lower = writeLayer(join(testDir(), 'lower'), { 'f.txt': 'lower\n' });
    let mountpoint = '';
    const scope = async (): Promise<void> => {
      await using union = await mountUnion({ lowers: [lower] });
      mountpoint = union.mountpoint;
      readFileSync(join(mountpoint, 'missing'));
    };
    await expect(scope()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(mountpoint).not.toBe('');
    expect(mountsBelow(mountpoint)).toEqual([]);
  });
});

describe('diff() and inspect() on a mounted union', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'show what the upper changed and where a path comes from',
    async () => {
      const base = testDir();
      const lower = writeLayer(join(base, 'lower'), { 'f.txt': 'lower\n', 'keep.txt': 'k\n' });
      const upper = writeLayer(join(base, 'upper'), {});
      await using union = await mountUnion({ lowers: [lower], upper });
      unlinkSync(join(union.mountpoint, 'f.txt'));
      writeFileSync(join(union.mountpoint, 'new.txt'), 'new\n');
      const changes = await union.diff();
      expect(changes).toContainEqual({ kind: 'D', path: '/f.txt' });
      expect(changes).toContainEqual({ kind: 'A', path: '/new.txt' });
      expect(changes.map((c) => c.path)).not.toContain('/keep.txt');
      expect((await union.inspect('/keep.txt')).servedBy).toBe('lower 1');
      expect((await union.inspect('/new.txt')).servedBy).toBe('upper');
    },
  );

  it.skipIf(possible !== true)('refuse an ephemeral union, whose upper is private', async () => {
    const lower = writeLayer(join(testDir(), 'lower'), { 'f.txt': 'x' });
    await using union = await mountUnion({ lowers: [lower], ephemeral: true });
    await expect(union.diff()).rejects.toThrow(/ephemeral union keeps its upper private/);
  });
});
