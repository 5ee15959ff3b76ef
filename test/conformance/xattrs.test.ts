/**
 * Extended attributes through the mount, compared with kernel overlayfs: user.*, trusted.* and
 * security.* with copy-up, the overlay's own trusted.overlay.* hidden and refused, every xattr
 * (security.capability included) kept by copy-up, and ERANGE for a buffer too small.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { file, opaqueDir, type LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import { mountPair, NOBODY, onBoth, type Op, runOps, trees } from './harness.js';
import * as native from '../../src/layers/native.js';
import { join } from 'node:path';

/**
 * A VFS v2 file capability (cap_net_bind_service=ep): magic 0x02000000 | effective flag, then
 * permitted/inheritable for the low and high 32 capabilities, little endian.
 */
const CAPABILITY = Buffer.from([
  0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** What the kernel records for itself on copy-up (unionmount writes origin too, or not yet). */
const KERNEL_BOOKKEEPING = ['trusted.overlay.origin', 'trusted.overlay.impure'];

const lower: LayerSpec = {
  f: file('data\n', { mode: 0o666, xattrs: { 'user.one': '1', 'user.two': 'two' } }),
  g: file('data\n', { xattrs: { 'trusted.t': 'root only', 'user.u': 'u' } }),
  cap: file('#!/bin/sh\n', { mode: 0o755 }),
  cap2: file('#!/bin/sh\n', { mode: 0o755 }),
  plain: 'plain\n',
  'dir/inner': 'inner\n',
  'opq/': opaqueDir(),
  'opq/x': 'x\n',
};

/** Lower xattrs the layer spec cannot state (security.*). */
function securityXattrs({ lowers }: { lowers: string[] }): void {
  for (const name of ['cap', 'cap2'])
    native.setxattr(Buffer.from(join(lowers[0]!, name)), 'security.capability', CAPABILITY);
  native.setxattr(Buffer.from(join(lowers[0]!, 'plain')), 'security.test', Buffer.from('sec'));
}

const asRoot: Op[] = [
  ['listxattr', 'f'],
  ['getxattr', 'f', 'user.one'],
  ['listxattr', 'g'],
  ['getxattr', 'g', 'trusted.t'],
  ['listxattr', 'opq'],
  ['getxattr', 'opq', 'trusted.overlay.opaque'],
  ['removexattr', 'opq', 'trusted.overlay.opaque'],
  ['listxattr', 'opq'],
  ['listdir', 'opq'],
  // copy-up by an xattr change keeps every other xattr
  ['setxattr', 'f', 'user.three', '3'],
  ['listxattr', 'f'],
  ['removexattr', 'f', 'user.one'],
  ['removexattr', 'f', 'user.missing'],
  ['listxattr', 'f'],
  ['setxattr', 'f', 'user.two', 'replaced', 2],
  ['setxattr', 'f', 'user.two', 'again', 1],
  ['setxattr', 'f', 'user.new', 'x', 2],
  ['getxattr', 'f', 'user.two'],
  ['setxattr', 'g', 'trusted.more', 'm'],
  ['listxattr', 'g'],
  ['setxattr', 'dir', 'security.label', 'l'],
  ['listxattr', 'dir'],
  ['listxattr', 'dir/inner'],
  // copy-up keeps security.capability; a write then drops it, as Linux does on any file
  ['getxattr', 'cap', 'security.capability'],
  ['chmod', 'cap', 0o750],
  ['getxattr', 'cap', 'security.capability'],
  ['open', 'cap2', 'w'],
  ['getxattr', 'cap2', 'security.capability'],
  ['append', 'cap', 'exit 0\n'],
  ['getxattr', 'cap', 'security.capability'],
  ['chmod', 'plain', 0o600],
  ['getxattr', 'plain', 'security.test'],
  // sized calls: the size probe, ERANGE, and an exact fit
  ['getxattr_sized', 'f', 'user.two', 0],
  ['getxattr_sized', 'f', 'user.two', 2],
  ['getxattr_sized', 'f', 'user.two', 5],
  ['listxattr_sized', 'f', 3],
  ['getxattr_sized', 'f', 'user.missing', 0],
];

/**
 * The overlay's own namespace. Since Linux 6.7 the kernel escapes a trusted.overlay.X set through
 * the mount (stored as trusted.overlay.overlay.X, for nested overlays) instead of refusing it; the
 * real markers stay hidden and untouchable either way.
 */
const privateNames: Op[] = [
  ['setxattr', 'plain', 'trusted.overlay.opaque', 'y'],
  ['setxattr', 'dir', 'trusted.overlay.opaque', 'y'],
  ['setxattr', 'dir', 'trusted.overlay.redirect', '/x'],
  ['listxattr', 'plain'],
  ['listxattr', 'dir'],
  ['getxattr', 'dir', 'trusted.overlay.opaque'],
  ['listdir', 'dir'],
  ['removexattr', 'dir', 'trusted.overlay.opaque'],
  ['listxattr', 'dir'],
  ['removexattr', 'opq', 'trusted.overlay.opaque'],
  ['listdir', 'opq'],
];

const asNobody: Op[] = [
  ['listxattr', 'g'],
  ['getxattr', 'g', 'trusted.t'],
  ['getxattr', 'f', 'user.two'],
  ['setxattr', 'f', 'user.by-nobody', 'n'],
  ['setxattr', 'g', 'user.by-nobody', 'n'],
  ['setxattr', 'f', 'trusted.by-nobody', 'n'],
  ['setxattr', 'f', 'trusted.overlay.opaque', 'y'],
  ['listxattr', 'f'],
];

describe('xattrs', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'root: get/set/list/remove with copy-up, as the kernel',
    async () => {
      const pair = await mountPair({ lowers: [lower], prepare: securityXattrs });
      const results = onBoth(pair, asRoot);
      expect(results.union).toEqual(results.kernel);
      expect(results.union).toContain(`["getxattr_sized","f","user.two",2] → ["ERANGE"]`);
      expect(results.union).toContain(`["listxattr","opq"] → ["ok",[]]`);
      const tree = trees(pair);
      expect(tree.union).toEqual(tree.kernel);
      // On disk the upper copy carries the capability, byte for byte.
      const upperCap = native.getxattr(
        Buffer.from(join(pair.union.upper, 'cap2')),
        'security.capability',
      );
      expect(upperCap).toEqual(CAPABILITY);
      // The size probe is exact (the kernel's counts its hidden names too).
      const [list, probe] = runOps(pair.union.root, [
        ['listxattr', 'f'],
        ['listxattr_sized', 'f', 0],
      ]);
      const names = list![1] as string[];
      expect(probe).toEqual(['ok', names.reduce((n, name) => n + name.length + 1, 0)]);
    },
  );

  it.skipIf(possible !== true)(
    'trusted.overlay.* set through the mount: as the kernel',
    async () => {
      const pair = await mountPair({ lowers: [lower] });
      const results = onBoth(pair, privateNames);
      expect(results.union).toEqual(results.kernel);
      expect(results.union).toContain(`["listdir","opq"] → ["ok",["x"]]`);
      const tree = trees(pair);
      expect(tree.union).toEqual(tree.kernel);
      // On disk, escaped as the kernel stores them: the real markers were never touched.
      const layout = (upper: string): string[] =>
        snapshot(upper, { xattrs: ['trusted.overlay.'], ignoreXattrs: KERNEL_BOOKKEEPING });
      expect(layout(pair.union.upper)).toEqual(layout(pair.kernel.upper));
      expect(layout(pair.union.upper).join('\n')).toContain('trusted.overlay.overlay.opaque=y');
    },
  );

  it.skipIf(possible !== true)('another user: trusted.* hidden, user.* by mode', async () => {
    const pair = await mountPair({ lowers: [lower], allowOther: true });
    const results = onBoth(pair, asNobody, NOBODY);
    expect(results.union).toEqual(results.kernel);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
  });
});
