/**
 * compareWithKernel, the public differential harness: it reports agreement as no differences,
 * and a real disagreement (the filesystem type statfs reports) as one, by step label.
 */
import { readdirSync, statfsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  compareWithKernel,
  step,
  type CompareLayers,
  type Step,
} from '../../dist/testing/index.js';
import { opaqueDir, whiteout } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, mountsBelow, testDir } from '../helpers/mounts.js';

const layers: CompareLayers = {
  lowers: [{ 'a.txt': 'a\n', 'gone.txt': whiteout(), 'cache/': opaqueDir() }, { 'gone.txt': 'x' }],
  upper: { 'u.txt': 'u\n' },
};

describe('compareWithKernel', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'finds no difference where unionmount behaves as the kernel',
    async () => {
      const steps = [
        step.readdir(''),
        step.append('a.txt', 'more\n'),
        step.unlink('u.txt'),
        step.unlink('gone.txt'),
        step.mkdir('cache/new'),
      ];
      const scratch = testDir();
      vi.stubEnv('TMPDIR', scratch); // os.tmpdir(): where compareWithKernel makes its directories
      const comparison = await compareWithKernel(layers, steps).finally(() => vi.unstubAllEnvs());
      expect(comparison.differences).toEqual([]);
      expect(comparison.kernel.results).toEqual([
        'readdir : ok ["a.txt","cache","u.txt"]',
        'append a.txt: ok',
        'unlink u.txt: ok',
        'unlink gone.txt: ENOENT',
        'mkdir cache/new: ok',
      ]);
      expect(comparison.kernel.upper.join('\n')).toMatch(/"a.txt" file 644 0:0 size=7/);
      // Its scratch directories (layers, mountpoints) are gone, and so are its mounts.
      expect(mountsBelow(scratch)).toEqual([]);
      expect(readdirSync(scratch)).toEqual([]);
    },
  );

  it.skipIf(possible !== true)('reports each difference with what both sides gave', async () => {
    const fsType: Step = ['statfs type', (root) => statfsSync(root).type.toString(16)];
    const comparison = await compareWithKernel(layers, [step.read('a.txt'), fsType]);
    expect(comparison.differences).toEqual([
      { in: 'step', at: 'statfs type', kernel: 'ok "794c7630"', unionmount: 'ok "65735546"' },
    ]);
  });
});
