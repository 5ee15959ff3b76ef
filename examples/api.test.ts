/**
 * unionmount in a test suite of your own: layers stated as plain objects, a mount that cannot
 * outlive its scope, and the kernel as the judge. Runs as it is in the project's CI and, installed
 * from the packed tarball, outside it (test/package/install.test.ts).
 *
 * Mounting needs root (or, later, a setuid fusermount); without it only the first test runs.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountUnion } from 'unionmount';
import {
  compareWithKernel,
  kernelOverlayPossible,
  opaqueDir,
  readLayer,
  step,
  whiteout,
  writeLayer,
} from 'unionmount/testing';

const canMount = process.getuid?.() === 0;
// In CI a skipped mount test would pass silently: refuse instead.
if (!canMount && process.env.CI === 'true') throw new Error('the examples mount: run them as root');

const base = { 'etc/motd': 'hello\n', 'etc/old.conf': 'old\n', 'cache/stale': 'stale\n' };
const app = { 'etc/old.conf': whiteout(), 'cache/': opaqueDir(), 'cache/fresh': 'fresh\n' };

describe('testing overlay behaviour with unionmount', () => {
  let dir: string;
  beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'unionmount-example-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('states layers in the kernel format and reads them back', async () => {
    const layer = writeLayer(join(dir, 'app'), app);
    expect(await readLayer(layer)).toEqual(app);
  });

  it.skipIf(!canMount)(
    'mounts, writes through the union and unmounts with await using',
    async () => {
      const lowers = [writeLayer(join(dir, 'app'), app), writeLayer(join(dir, 'base'), base)];
      const upper = join(dir, 'upper');
      mkdirSync(upper);
      {
        await using union = await mountUnion({ lowers, upper });
        expect(readdirSync(join(union.mountpoint, 'etc'))).toEqual(['motd']);
        expect(readdirSync(join(union.mountpoint, 'cache'))).toEqual(['fresh']);
        appendFileSync(join(union.mountpoint, 'etc/motd'), 'more\n');
        unlinkSync(join(union.mountpoint, 'cache/fresh'));
      }
      // A copy-up and a whiteout: the upper as the kernel would have written it.
      expect(await readLayer(upper)).toEqual({
        'etc/motd': 'hello\nmore\n',
        'cache/fresh': whiteout(),
      });
    },
  );

  it.skipIf(kernelOverlayPossible() !== true)('behaves as kernel overlayfs', async () => {
    const steps = [
      step.readdir('etc'),
      step.append('etc/motd', 'more\n'),
      step.rename('etc/motd', 'motd'),
      step.unlink('cache/fresh'),
      step.rmdir('cache'),
      step.read('etc/old.conf'),
    ];
    const { differences, kernel } = await compareWithKernel({ lowers: [app, base] }, steps);
    expect(differences).toEqual([]);
    expect(kernel.results.at(-1)).toBe('read etc/old.conf: ENOENT');
  });
});
