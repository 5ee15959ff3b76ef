/**
 * Special files through the mount, compared with kernel overlayfs: device nodes (root), named
 * pipes and unix sockets, lower ones copied up by a metadata change, and a 0/0 character device
 * (the on-disk whiteout) refused with EPERM.
 */
import { constants } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fifo, type LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { mountPair, NOBODY, onBoth, type Op, trees } from './harness.js';

const { S_IFCHR, S_IFBLK, S_IFIFO } = constants;

const lower: LayerSpec = {
  'dev/pipe': fifo(),
  'dev/keep': 'keep\n',
  'pub/': { kind: 'dir', mode: 0o777 },
};

const asRoot: Op[] = [
  ['mknod', 'dev/null2', S_IFCHR | 0o666, 1, 3],
  ['stat', 'dev/null2'],
  ['read', 'dev/null2'],
  ['mknod', 'dev/loop', S_IFBLK | 0o600, 7, 200],
  ['stat', 'dev/loop'],
  ['mknod', 'dev/whiteout', S_IFCHR | 0o600, 0, 0],
  ['mknod', 'dev/keep', S_IFCHR | 0o600, 0, 0],
  ['stat', 'dev/whiteout'],
  ['listdir', 'dev'],
  ['mkfifo', 'dev/fifo', 0o640],
  ['stat', 'dev/fifo'],
  ['mknod', 'dev/fifo2', S_IFIFO | 0o600],
  ['stat', 'dev/fifo2'],
  ['bind', 'dev/sock'],
  ['stat', 'dev/sock'],
  ['chmod', 'dev/pipe', 0o600],
  ['stat', 'dev/pipe'],
  ['rename', 'dev/null2', 'dev/null3'],
  ['unlink', 'dev/sock'],
  ['listdir', 'dev'],
];

const asNobody: Op[] = [
  ['mknod', 'pub/c', S_IFCHR | 0o600, 1, 3],
  ['mknod', 'pub/w', S_IFCHR | 0o600, 0, 0],
  ['mkfifo', 'pub/fifo', 0o600],
  ['stat', 'pub/fifo'],
  ['bind', 'pub/sock'],
  ['stat', 'pub/sock'],
];

describe('special files', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('root: devices, fifos, sockets as the kernel', async () => {
    const pair = await mountPair({ lowers: [lower] });
    const results = onBoth(pair, asRoot);
    expect(results.union).toEqual(results.kernel);
    expect(results.union).toContain(`["mknod","dev/whiteout",8576,0,0] → ["EPERM"]`);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
  });

  it.skipIf(possible !== true)('another user: fifos and sockets, no devices', async () => {
    const pair = await mountPair({ lowers: [lower], allowOther: true });
    const results = onBoth(pair, asNobody, NOBODY);
    expect(results.union).toEqual(results.kernel);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
  });
});
