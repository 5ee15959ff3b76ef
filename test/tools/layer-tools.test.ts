/**
 * inspect, diff, commit, squash, discard and df on real layer directories, the upper written by a
 * kernel overlay mount, every result checked exactly and against kernel overlayfs.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import {
  cleanupMounts,
  kernelOverlay,
  mountingPossible,
  testDir,
  union,
} from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import type { DiskUsage, LayerUsage } from '../../src/tools/df.js';
import type { Inspection } from '../../src/tools/inspect.js';
import { changeThroughKernel, cli, kernelView, writeImage } from './fixtures.js';

const possible = mountingPossible();

afterEach(cleanupMounts);

/** An image a:b and an upper the kernel wrote over it. */
function container(): { dir: string; a: string; b: string; upper: string; work: string } {
  const dir = testDir();
  const { a, b } = writeImage(dir);
  return { dir, a, b, ...changeThroughKernel(dir, a, b) };
}

describe('inspect', () => {
  it.skipIf(possible !== true)(
    'shows each layer, what covers it, and the copy-up state',
    async () => {
      const { a, b, upper } = container();
      const run = await cli(
        'inspect',
        '--lower',
        `${a}:${b}`,
        '--upper',
        upper,
        '/etc/app.conf',
        '--json',
      );
      expect(run.code).toBe(0);
      const result = JSON.parse(run.out) as Inspection;
      expect(result).toMatchObject({
        path: '/etc/app.conf',
        kind: 'file',
        servedBy: 'upper',
        copyUp: 'copied up',
      });
      expect(result.layers.map((l) => [l.role, l.state, l.by, l.object?.size])).toEqual([
        ['upper', 'visible', undefined, 5],
        ['lower 1', 'shadowed', 'file in upper', 15],
        ['lower 2', 'shadowed', 'file in lower 1', 12],
      ]);

      const hidden = JSON.parse(
        (
          await cli(
            'inspect',
            '--lower',
            `${a}:${b}`,
            '--upper',
            upper,
            '/var/log/boot.log',
            '--json',
          )
        ).out,
      ) as Inspection;
      expect(hidden.kind).toBeNull();
      expect(hidden.layers.map((l: { state: string; by?: string }) => [l.state, l.by])).toEqual([
        ['absent', undefined],
        ['absent', undefined],
        ['hidden', 'opaque dir at /var in lower 1'],
      ]);

      const text = (await cli('inspect', '--lower', `${a}:${b}`, '--upper', upper, '/etc')).out;
      expect(text.split('\n')[0]).toBe('/etc: dir, served by upper (copied up)');
      expect(text).toMatch(/^NAME +KIND +FROM +MERGED$/m);
      expect(text).toMatch(/^app\.conf +file +upper$/m);
      expect(text).not.toMatch(/^(hosts|old\.txt) /m);
    },
  );

  it.skipIf(possible !== true)(
    'reads the layers of a live kernel mount from its mountpoint',
    async () => {
      const { dir, a, b, upper, work } = container();
      const mnt = join(dir, 'live');
      mkdirSync(mnt);
      kernelOverlay({ lowers: [a, b], upper, work, mountpoint: mnt });
      const viaMount = await cli('inspect', mnt, '/data', '--json');
      const viaLayers = await cli(
        'inspect',
        '--lower',
        `${a}:${b}`,
        '--upper',
        upper,
        '/data',
        '--json',
      );
      expect(viaMount.code).toBe(0);
      expect(viaMount.out).toBe(viaLayers.out);
      expect((JSON.parse(viaMount.out) as Inspection).entries).toEqual([
        { name: 'new', kind: 'file', from: 'upper' },
      ]);
    },
  );
});

describe('diff', () => {
  it.skipIf(possible !== true)(
    'lists what the kernel mount changed, docker diff style',
    async () => {
      const { dir, a, b, upper } = container();
      const run = await cli('diff', '--lower', `${a}:${b}`, '--upper', upper);
      expect(run.code).toBe(0);
      expect(run.out.split('\n').filter(Boolean)).toEqual([
        'C /data',
        'D /data/blob',
        'D /data/keep',
        'A /data/new',
        'C /etc',
        'C /etc/app.conf',
        'D /etc/hosts',
        'A /opt',
        'A /opt/tool',
        'A /opt/tool/bin',
        'A /opt/tool/link',
        'C /var/run.pid',
      ]);
      // The kernel's own views before and after agree on every added and deleted name.
      const names = (lines: string[]): Set<string> =>
        new Set(lines.map((l) => '/' + (JSON.parse(l.split(' ')[0]!) as string)));
      const before = names(kernelView(dir, 'before', [a, b]));
      const after = names(kernelView(dir, 'after', [a, b], upper));
      const changes = JSON.parse(
        (await cli('diff', '--lower', `${a}:${b}`, '--upper', upper, '--json')).out,
      ) as { kind: string; path: string }[];
      for (const path of after)
        if (!before.has(path)) expect(changes).toContainEqual({ kind: 'A', path });
      for (const { kind, path } of changes) {
        expect(after.has(path)).toBe(kind !== 'D');
        expect(before.has(path)).toBe(kind !== 'A');
      }
    },
  );
});

describe('commit', () => {
  it.skipIf(possible !== true)(
    'makes a layer that mounts under the kernel as the container did',
    async () => {
      const { dir, a, b, upper } = container();
      const merged = kernelView(dir, 'container', [a, b], upper);
      const layer = join(dir, 'layer3');
      const run = await cli('commit', '--lower', `${a}:${b}`, '--upper', upper, layer);
      expect(run.code).toBe(0);
      expect(run.out).toBe(
        `committed ${upper} as ${layer}: mount it with --lower ${layer}:${a}:${b}\n`,
      );
      expect(kernelView(dir, 'committed', [layer, a, b])).toEqual(merged);
      expect(snapshot(layer, { xattrs: ['trusted.overlay.'] })).toContain(
        '"data" dir 755 0:0 xattrs{trusted.overlay.opaque=y}',
      );
    },
  );

  it.skipIf(possible !== true)('squashes all layers into the kernel merged view', async () => {
    const { dir, a, b, upper } = container();
    const flat = join(dir, 'flat');
    expect(
      (await cli('commit', '--lower', `${a}:${b}`, '--upper', upper, '--squash', flat)).code,
    ).toBe(0);
    expect(snapshot(flat)).toEqual(kernelView(dir, 'container', [a, b], upper));
  });

  it.skipIf(possible !== true)('refuses while a kernel mount writes to the upper', async () => {
    const { dir, a, b, upper, work } = container();
    const mnt = join(dir, 'live');
    mkdirSync(mnt);
    kernelOverlay({ lowers: [a, b], upper, work, mountpoint: mnt });
    const run = await cli('commit', '--lower', `${a}:${b}`, '--upper', upper, join(dir, 'layer3'));
    expect(run.code).toBe(1);
    expect(run.err).toBe(
      `unionmount: upper layer ${upper}: in use by the kernel overlay mount at ${mnt}; unmount it before committing it\n`,
    );
    expect(existsSync(join(dir, 'layer3'))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('partial'))).toEqual([]);
  });

  it.skipIf(possible !== true)(
    'discard refuses while a unionmount mount writes to the upper',
    async () => {
      const { a, b, upper } = container();
      await union({ lowers: [a, b], upper });
      const run = await cli('discard', '--upper', upper);
      expect(run.code).toBe(1);
      expect(run.err).toMatch(
        new RegExp(
          `^unionmount: upper layer ${upper}: in use by the unionmount mount at .* \\(daemon pid \\d+\\); unmount it before discarding it\\n$`,
        ),
      );
      expect(readdirSync(upper).length).toBeGreaterThan(0);
    },
  );
});

describe('discard', () => {
  it.skipIf(possible !== true)(
    'empties the upper and work dir, leaving the lowers as they were',
    async () => {
      const { dir, a, b, upper, work } = container();
      const lowersBefore = [snapshot(a), snapshot(b)];
      const run = await cli('discard', '--upper', upper, '--work', work);
      expect(run.code).toBe(0);
      expect(run.out).toBe(`discarded 11 objects (18 bytes of files) from ${upper}\n`);
      expect(readdirSync(upper)).toEqual([]);
      expect(readdirSync(work)).toEqual([]);
      expect([snapshot(a), snapshot(b)]).toEqual(lowersBefore);
      expect(kernelView(dir, 'after', [a, b], upper)).toEqual(kernelView(dir, 'image', [a, b]));
    },
  );
});

describe('df', () => {
  it.skipIf(possible !== true)('counts shadowed, hidden and shared bytes', async () => {
    const { dir, a, b, upper } = container();
    const second = writeLayer(join(dir, 'upper2'), {});
    const run = await cli(
      'df',
      '--lower',
      `${a}:${b}`,
      '--upper',
      upper,
      '--upper',
      second,
      '--json',
    );
    expect(run.code).toBe(0);
    const usage = JSON.parse(run.out) as DiskUsage;
    const counts = (u: LayerUsage): number[] => [
      u.files,
      u.whiteouts,
      u.bytes,
      u.shadowed,
      u.hidden,
    ];
    expect(usage.lowers.map(counts)).toEqual([
      [2, 1, 18, 0, 0],
      [6, 0, 1038, 12, 11],
    ]);
    expect(usage.uppers.map((u) => [...counts(u).slice(0, 3), u.covers])).toEqual([
      [5, 1, 21, { shadowed: 18, hidden: 1015 }],
      [0, 0, 0, { shadowed: 0, hidden: 0 }],
    ]);
    expect(usage.image).toEqual({ bytes: 1056, visible: 1033 });
    expect(usage.shared).toEqual({ bytes: 1056, uppers: 2, saved: 1056 });
    // What the image shows is what the kernel shows: 1033 bytes of file and symlink data.
    const visible = kernelView(dir, 'image', [a, b])
      .map((line) => Number(/size=(\d+)/.exec(line)?.[1] ?? 0))
      .reduce((x, y) => x + y, 0);
    expect(visible).toBe(1033);
  });
});
