/**
 * The upper is interchangeable: an upper written through unionmount mounts under kernel overlayfs
 * with the same merged tree, and one the kernel wrote mounts under unionmount likewise.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LayerSpec, opaqueDir, writeLayer } from '../helpers/layers.js';
import {
  cleanupMounts,
  kernelOverlay,
  mountingPossible,
  testDir,
  union,
} from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';

const top: LayerSpec = { 'etc/app.conf': 'port=80\n', 'etc/old': 'old\n', 'var/': opaqueDir() };
const bottom: LayerSpec = {
  'etc/motd': 'hello\n',
  'etc/old': 'hidden\n',
  'var/cache/big': 'cached\n',
  'srv/data/one': '1\n',
  'srv/data/two': '2\n',
  'bin/tool': 'tool\n',
  'gone/': opaqueDir(),
};

/** Changes that exercise copy-up, whiteouts, opaque directories and renames. */
function change(root: string): void {
  fs.appendFileSync(join(root, 'etc/app.conf'), 'debug=1\n');
  fs.unlinkSync(join(root, 'etc/motd'));
  fs.writeFileSync(join(root, 'etc/new'), 'new\n');
  fs.rmSync(join(root, 'srv/data'), { recursive: true });
  fs.mkdirSync(join(root, 'srv/data'));
  fs.writeFileSync(join(root, 'srv/data/three'), '3\n');
  fs.renameSync(join(root, 'bin/tool'), join(root, 'bin/tool2'));
  fs.chmodSync(join(root, 'etc/old'), 0o600);
  fs.symlinkSync('../etc/new', join(root, 'bin/link'));
}

function layers(base: string): { lowers: string[]; upper: string; mnt: string } {
  const mnt = join(base, 'mnt');
  fs.mkdirSync(mnt);
  return {
    lowers: [writeLayer(join(base, 'top'), top), writeLayer(join(base, 'bottom'), bottom)],
    upper: writeLayer(join(base, 'upper'), {}),
    mnt,
  };
}

describe('interoperability with kernel overlayfs', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('the kernel mounts an upper that unionmount wrote', async () => {
    const dir = { path: testDir() };
    const { lowers, upper, mnt } = layers(dir.path);
    const ours = await union({ lowers, upper, mountpoint: mnt });
    change(mnt);
    const seen = snapshot(mnt);
    await ours.unmount();
    const kernel = kernelOverlay({ lowers, upper, mountpoint: mnt });
    try {
      expect(snapshot(mnt)).toEqual(seen);
    } finally {
      kernel.unmount();
    }
  });

  it.skipIf(possible !== true)('unionmount mounts an upper that the kernel wrote', async () => {
    const dir = { path: testDir() };
    const { lowers, upper, mnt } = layers(dir.path);
    const kernel = kernelOverlay({ lowers, upper, work: join(dir.path, 'work'), mountpoint: mnt });
    let seen: string[];
    try {
      change(mnt);
      seen = snapshot(mnt);
    } finally {
      kernel.unmount();
    }
    const ours = await union({ lowers, upper, work: join(dir.path, 'work'), mountpoint: mnt });
    try {
      expect(snapshot(mnt)).toEqual(seen);
    } finally {
      await ours.unmount();
    }
  });
});
