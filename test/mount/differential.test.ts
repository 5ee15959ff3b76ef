/**
 * The kernel is the oracle: each scenario runs the same steps on kernel overlayfs and on
 * unionmount over identical layers (whiteouts and opaque directories in the lowers included) and
 * compares every step's result, the merged tree and the upper's on-disk layout.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LayerSpec, opaqueDir, symlink, whiteout, dir } from '../helpers/layers.js';
import { onKernel, onUnionmount, step, type Step } from '../helpers/differential.js';
import { runOnKernel, runOnUnionmount } from '../../dist/testing/index.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';

const top: LayerSpec = {
  'a.txt': 'lower a\n',
  'dir/x': 'x from top\n',
  'dir/gone': whiteout(),
  'opq/': opaqueDir(),
  'opq/o1': 'o1\n',
  shadow: 'a file in the top lower hides a directory below\n',
  link: symlink('a.txt'),
  'ro/f': 'f\n',
  'nested/a/b/c.txt': 'deep\n',
};
const bottom: LayerSpec = {
  'b.txt': 'lower b\n',
  'c.txt': 'hidden by a whiteout in the upper\n',
  'dir/y': 'y from bottom\n',
  'dir/gone': 'must stay hidden\n',
  'opq/hidden': 'must stay hidden\n',
  'shadow/inner': 'must stay hidden\n',
  'empty/': dir(),
  'merged/one': '1\n',
};
const upper: LayerSpec = {
  'u.txt': 'upper\n',
  'dir/z': 'z in upper\n',
  'c.txt': whiteout(),
  'merged/two': '2\n',
};

const scenarios: Record<string, Step[]> = {
  'reads the merged view': [
    step.readdir(''),
    step.readdir('dir'),
    step.readdir('opq'),
    step.readdir('merged'),
    step.read('a.txt'),
    step.read('dir/y'),
    step.read('c.txt'),
    step.read('dir/gone'),
    step.readlink('link'),
    step.stat('shadow'),
    step.readdir('shadow'),
    step.stat('nested/a/b'),
  ],
  'copies up on write, never on read': [
    step.read('b.txt'),
    step.append('a.txt', 'appended\n'),
    step.write('b.txt', 'rewritten\n'),
    step.truncate('nested/a/b/c.txt', 2),
    step.chmod('ro/f', 0o600),
    step.read('a.txt'),
    step.stat('ro/f'),
  ],
  'deletes with whiteouts': [
    step.unlink('a.txt'),
    step.unlink('b.txt'),
    step.unlink('u.txt'),
    step.unlink('dir/x'),
    step.unlink('missing'),
    step.rmdir('empty'),
    step.rmdir('dir'),
    step.unlink('dir/y'),
    step.unlink('dir/z'),
    step.rmdir('dir'),
    step.readdir(''),
    step.unlink('link'),
    step.unlink('shadow'),
  ],
  'creates over whiteouts': [
    step.unlink('a.txt'),
    step.write('a.txt', 'new a\n'),
    step.write('c.txt', 'new c\n'),
    step.unlink('merged/one'),
    step.unlink('merged/two'),
    step.rmdir('merged'),
    step.mkdir('merged'),
    step.readdir('merged'),
    step.rmdir('empty'),
    step.mkdir('empty'),
    step.symlink('target', 'dir/gone'),
    step.readlink('dir/gone'),
    step.readdir('dir'),
  ],
  'renames files and upper directories': [
    step.rename('a.txt', 'a2.txt'),
    step.rename('u.txt', 'u2.txt'),
    step.rename('b.txt', 'dir/b.txt'),
    step.rename('dir/x', 'dir/y'),
    step.mkdir('newdir'),
    step.write('newdir/f', 'f\n'),
    step.rename('newdir', 'moved'),
    step.rename('moved', 'c.txt'),
    step.rename('dir', 'dir2'),
    step.rename('empty', 'empty2'),
    step.readdir(''),
    step.readdir('dir'),
  ],
  'renames directories with redirects': [
    step.rename('dir', 'dir2'),
    step.readdir('dir2'),
    step.read('dir2/y'),
    step.rename('nested/a', 'moved-a'),
    step.readdir('moved-a/b'),
    step.rename('moved-a/b', 'dir2/b2'),
    step.read('dir2/b2/c.txt'),
    step.mkdir('fresh'),
    step.write('fresh/f', 'f\n'),
    step.rename('fresh', 'dir2/fresh'),
    step.unlink('dir2/y'),
    step.readdir('dir2'),
    step.rename('dir2', 'dir'),
    step.readdir('dir'),
    step.readdir(''),
    step.rename('merged', 'empty'),
    step.rename('empty', 'merged/inner'),
    step.readdir('merged'),
  ],
  'checks access as for root': [
    step.chmod('ro/f', 0o444),
    ['access rwx a.txt', (r) => fs.accessSync(join(r, 'a.txt'), fs.constants.X_OK)],
    ['access w ro/f', (r) => fs.accessSync(join(r, 'ro/f'), fs.constants.W_OK)],
    step.write('ro/f', 'root may write\n'),
    step.chmod('a.txt', 0o700),
    ['access x a.txt', (r) => fs.accessSync(join(r, 'a.txt'), fs.constants.X_OK)],
    ['access x dir', (r) => fs.accessSync(join(r, 'dir'), fs.constants.X_OK)],
  ],
  'answers errors as a plain filesystem': [
    step.mkdir('dir'),
    step.create('a.txt'),
    step.rmdir('merged'),
    step.rmdir('a.txt'),
    step.unlink('dir'),
    step.rename('dir', 'dir/sub'),
    step.rename('a.txt', 'merged'),
    step.mkdir('newdir'),
    step.rename('newdir', 'a.txt'),
    step.rename('missing', 'x'),
    step.readlink('a.txt'),
    step.mkdir('a.txt/sub'),
    step.read('dir'),
  ],
  'links and symlinks': [
    step.link('a.txt', 'hard'),
    step.stat('a.txt'),
    step.stat('hard'),
    step.append('hard', 'via hard\n'),
    step.read('a.txt'),
    step.symlink('dir/y', 'sym'),
    step.read('sym'),
    step.unlink('a.txt'),
    step.stat('hard'),
  ],
};

describe('differential against kernel overlayfs', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  for (const [name, steps] of Object.entries(scenarios)) {
    it.skipIf(possible !== true)(name, async () => {
      const kernel = onKernel([top, bottom], upper, steps);
      const ours = await onUnionmount([top, bottom], upper, steps);
      expect(ours.results).toEqual(kernel.results);
      expect(ours.merged).toEqual(kernel.merged);
      expect(ours.upper).toEqual(kernel.upper);
    });
  }

  it.skipIf(possible !== true)(
    'with redirect_dir off, renaming a merged directory is EXDEV',
    async () => {
      const layers = { lowers: [top, bottom], upper };
      const steps = [step.rename('dir', 'dir2'), step.rename('nested', 'n2'), step.readdir('')];
      const kernel = runOnKernel(layers, steps, { kernelOptions: 'redirect_dir=off' });
      const ours = await runOnUnionmount(layers, steps, { redirectDir: 'off' });
      expect(kernel.results[0]).toBe('rename dir dir2: EXDEV');
      expect(ours.results).toEqual(kernel.results);
      expect(ours.upper).toEqual(kernel.upper);
    },
  );
});
