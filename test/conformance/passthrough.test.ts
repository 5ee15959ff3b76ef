/**
 * FUSE passthrough: the kernel reads and writes open files of the upper itself, with no request,
 * so the daemon learns nothing of those writes. Each sequence is compared step by step with
 * kernel overlayfs: sizes after writes through open files, a copy-up while the lower file is
 * still open (the old handle keeps its file; nothing is passed through to a lower file), and
 * shared writable mmap. The lower layer must come out unchanged.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { mountPair, onBoth, type Op } from './harness.js';

const lower: LayerSpec = { 'd/lowerfile': 'lower data\n', 'd/other': 'other\n' };

const sequences: Record<string, Op[]> = {
  'writes through open files show in every stat': [
    ['create', 'd/new', 0o644],
    ['pwrite', 0, 'hello', 0],
    ['fstat', 0],
    ['stat', 'd/new'],
    ['pwrite', 0, 'more', 100],
    ['stat', 'd/new'],
    ['ftruncate', 0, 3],
    ['stat', 'd/new'],
    ['read', 'd/new'],
    ['append', 'd/new', 'tail'],
    ['fstat', 0],
    ['pread', 0, 100, 0],
    ['close', 0],
    ['stat', 'd/new'],
  ],
  'a copy-up while the lower file is open for reading': [
    ['open', 'd/lowerfile', 'r'],
    ['pread', 0, 100, 0],
    ['open', 'd/lowerfile', 'rw'],
    ['pwrite', 1, 'UPPER', 0],
    ['pread', 1, 100, 0],
    ['mmap_write', 1, 'MM', 6],
    ['mmap_read', 1, 11],
    ['stat', 'd/lowerfile'],
    ['close', 0],
    ['close', 1],
    ['open', 'd/lowerfile', 'rw'],
    ['mmap_write', 2, 'x', 0],
    ['pread', 2, 100, 0],
    ['close', 2],
    ['read', 'd/lowerfile'],
  ],
  'mmap of a copied-up file, then of a new one': [
    ['open', 'd/other', 'rw'],
    ['mmap_write', 0, 'OTHER', 0],
    ['pread', 0, 100, 0],
    ['open', 'd/other', 'r'],
    ['mmap_read', 1, 6],
    ['close', 0],
    ['close', 1],
    ['create', 'd/mapped', 0o600],
    ['ftruncate', 2, 8],
    ['mmap_write', 2, 'mapped', 1],
    ['close', 2],
    ['read', 'd/mapped'],
    ['stat', 'd/mapped'],
  ],
};

describe('passthrough of open files', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  for (const [name, ops] of Object.entries(sequences)) {
    it.skipIf(possible !== true)(name, async () => {
      const pair = await mountPair({ lowers: [lower] });
      const results = onBoth(pair, ops);
      expect(results.union).toEqual(results.kernel);
      for (const side of [pair.kernel, pair.union]) {
        const lowerNow = fs.readFileSync(join(side.lowers[0]!, 'd/lowerfile'), 'utf8');
        expect(lowerNow).toBe('lower data\n');
      }
    });
  }
});
