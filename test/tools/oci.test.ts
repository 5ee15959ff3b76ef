/**
 * import and export: docker-save and OCI images built by hand, unpacked into kernel-format layers
 * that the kernel mounts as the expected tree; digests verified; hostile archives refused with
 * nothing written; export then import gives the same tree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { symlink, writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import {
  changeThroughKernel,
  cli,
  dockerSave,
  kernelView,
  layerTar,
  ociLayout,
  sha256,
  writeImage,
} from './fixtures.js';

const possible = mountingPossible();

afterEach(cleanupMounts);

/** Two layers in the OCI spelling: the top one replaces, deletes and makes /data opaque. */
async function imageLayers(dir: string): Promise<{ bottom: Buffer; top: Buffer }> {
  writeLayer(join(dir, 'l1'), {
    'etc/app.conf': 'base\n',
    'etc/hosts': 'localhost\n',
    'data/blob': 'blob\n',
    'data/keep': 'keep\n',
  });
  writeLayer(join(dir, 'l2'), {
    'etc/app.conf': 'top\n',
    'etc/.wh.hosts': '',
    'data/.wh..wh..opq': '',
    'data/new': 'new\n',
    'bin/sh': symlink('/usr/bin/busybox'),
  });
  return { bottom: await layerTar(join(dir, 'l1')), top: await layerTar(join(dir, 'l2')) };
}

/** The tree the image should show. */
function expectedTree(dir: string): string[] {
  return snapshot(
    writeLayer(join(dir, 'expected'), {
      'etc/app.conf': 'top\n',
      'data/new': 'new\n',
      'bin/sh': symlink('/usr/bin/busybox'),
    }),
  );
}

describe('import', () => {
  it.skipIf(possible !== true)(
    'unpacks a docker save tarball into kernel-format layers',
    async () => {
      const dir = testDir();
      const { bottom, top } = await imageLayers(dir);
      const image = await dockerSave(dir, [bottom, top], join(dir, 'image.tar'));
      const out = join(dir, 'layers');
      const run = await cli('import', image, out);
      expect(run.code).toBe(0);
      expect(run.out).toBe(`${out}/layer2:${out}/layer1\n`);
      expect(run.err).toBe(`${out}/layer1: ${sha256(bottom)}\n${out}/layer2: ${sha256(top)}\n`);
      expect(snapshot(join(out, 'layer2'), { xattrs: ['trusted.overlay.'] })).toEqual(
        expect.arrayContaining([
          '"etc/hosts" chr 0 0:0 rdev=0',
          '"data" dir 755 0:0 xattrs{trusted.overlay.opaque=y}',
        ]),
      );
      expect(kernelView(dir, 'image', [join(out, 'layer2'), join(out, 'layer1')])).toEqual(
        expectedTree(dir),
      );
    },
  );

  it.skipIf(possible !== true)(
    'unpacks an OCI layout, as a directory and as a tar, gzip layers too',
    async () => {
      const dir = testDir();
      const { bottom, top } = await imageLayers(dir);
      const gzipped = await layerTar(join(dir, 'l2'), { gzip: true });
      const layout = ociLayout(dir, [
        { blob: bottom, diffId: sha256(bottom) },
        { blob: gzipped, diffId: sha256(top) },
      ]);
      await tar.c({ cwd: layout, file: join(dir, 'oci.tar'), portable: true }, readdirSync(layout));
      const expected = expectedTree(dir);
      for (const [name, image] of [
        ['dir', layout],
        ['tar', join(dir, 'oci.tar')],
      ]) {
        const out = join(dir, `layers-${name}`);
        const run = await cli('import', image!, out);
        expect(run.code).toBe(0);
        expect(run.err.split('\n')[1]).toBe(`${out}/layer2: ${sha256(top)}`);
        expect(kernelView(dir, name!, run.out.trim().split(':'))).toEqual(expected);
      }
    },
  );

  it('refuses a layer whose content does not match its digest, creating nothing', async () => {
    const dir = testDir();
    const { bottom, top } = await imageLayers(dir);
    const tampered = Buffer.from(top.toString('latin1').replace('top\n', 'pot\n'), 'latin1');
    const layout = ociLayout(dir, [
      { blob: bottom, diffId: sha256(bottom) },
      { blob: top, diffId: sha256(top) },
    ]);
    writeFileSync(join(layout, 'blobs/sha256', sha256(top).slice(7)), tampered);
    const run = await cli('import', layout, join(dir, 'layers'));
    expect(run.code).toBe(1);
    expect(run.err).toBe(
      `unionmount: layer blobs/sha256/${sha256(top).slice(7)}: digest mismatch: expected ${sha256(top)}, got ${sha256(tampered)}\n`,
    );
    expect(readdirSync(dir).filter((n) => n.includes('layers'))).toEqual([]);
  });

  it('refuses hostile entries and writes nothing outside (or inside) DIR', async () => {
    const dir = testDir();
    const hostile: [string, tar.HeaderData[], string][] = [
      [
        'dotdot',
        [{ path: '../evil', type: 'File', size: 5 }],
        'entry "../evil": path escapes the target directory',
      ],
      [
        'absolute',
        [{ path: `${dir}/evil`, type: 'File', size: 5 }],
        `entry "${dir}/evil": path escapes the target directory`,
      ],
      [
        'symlink',
        [
          { path: 'esc', type: 'SymbolicLink', linkpath: dir },
          { path: 'esc/evil', type: 'File', size: 5 },
        ],
        'entry "esc/evil": goes through a symlink at esc',
      ],
      [
        'hardlink',
        [{ path: 'pw', type: 'Link', linkpath: '../../etc/passwd' }],
        'entry "../../etc/passwd": path escapes the target directory',
      ],
    ];
    for (const [name, entries, message] of hostile) {
      const file = join(dir, `${name}.tar`);
      writeFileSync(file, rawTar(entries));
      const run = await cli('import', file, join(dir, `out-${name}`));
      expect(run.err).toBe(`unionmount: layer ${file}: ${message}\n`);
      expect(run.code).toBe(2);
      expect(existsSync(join(dir, `out-${name}`))).toBe(false);
    }
    expect(existsSync(join(dir, 'evil'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(hostile.map(([n]) => `${n}.tar`).sort());
  });
});

describe('export', () => {
  it.skipIf(possible !== true)(
    'writes a deterministic OCI layer that imports back to the same tree',
    async () => {
      const dir = testDir();
      const { a, b } = writeImage(dir);
      const { upper } = changeThroughKernel(dir, a, b);
      const layer = join(dir, 'layer.tar');
      const run = await cli(
        'export',
        '--upper',
        upper,
        '--lower',
        `${a}:${b}`,
        '--mtime',
        '0',
        layer,
      );
      expect(run.code).toBe(0);
      expect(run.out).toBe(`${sha256(readFileSync(layer))}\n`);
      expect(
        execFileSync('tar', ['tf', layer], { encoding: 'utf8' }).split('\n').filter(Boolean),
      ).toEqual([
        'data/',
        'data/.wh..wh..opq',
        'data/new',
        'etc/',
        'etc/app.conf',
        'etc/.wh.hosts',
        'opt/',
        'opt/tool/',
        'opt/tool/bin',
        'opt/tool/link',
        'var/',
        'var/run.pid',
      ]);
      const again = join(dir, 'again.tar');
      expect(
        (await cli('export', '--upper', upper, '--lower', `${a}:${b}`, '--mtime', '0', again)).out,
      ).toBe(run.out);

      const imported = join(dir, 'imported');
      expect((await cli('import', layer, imported)).out).toBe(`${imported}/layer1\n`);
      expect(kernelView(dir, 'round-trip', [join(imported, 'layer1'), a, b])).toEqual(
        kernelView(dir, 'container', [a, b], upper),
      );
      rmSync(again);
    },
  );
});

/** A tar written header by header, so it can hold what no well-behaved tool would write. */
function rawTar(entries: tar.HeaderData[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const header = Buffer.alloc(512);
    new tar.Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(0), size: 0, ...entry }).encode(
      header,
      0,
    );
    blocks.push(header);
    if (entry.size) blocks.push(Buffer.concat([Buffer.from('evil\n'), Buffer.alloc(512 - 5)]));
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}
