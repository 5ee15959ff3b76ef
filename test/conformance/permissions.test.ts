/**
 * Permissions for many users: real processes as nobody (setpriv) through `--allow-other`, with the
 * kernel's default_permissions, compared with kernel overlayfs over the same layers.
 */
import { chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dir, file, type LayerSpec } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { mountPair, NOBODY, onBoth, type Op, trees } from './harness.js';

const USERS = 100;
const R_OK = 4;
const W_OK = 2;

const lower: LayerSpec = {
  'pub/': dir(0o777),
  'pub/rootfile': file('root\n', { mode: 0o666 }),
  'pub/mine': file('mine\n', { mode: 0o644 }),
  'pub/suid': file('#!/bin/sh\n', { mode: 0o6775 }),
  'pub/rootsuid': file('#!/bin/sh\n', { mode: 0o6755 }),
  'sticky/': dir(0o1777),
  'sticky/rootfile': file('root\n', { mode: 0o666 }),
  'sticky/nobodyfile': file('nobody\n', { mode: 0o666 }),
  'sgid/': dir(0o2777),
  secret: file('secret\n', { mode: 0o600 }),
  'private/': dir(0o700),
  'private/f': 'f\n',
};

/** Owners the layer spec cannot state: nobody's files, and a set-group-ID directory of `users`. */
function owners({ lowers }: { lowers: string[] }): void {
  const [root] = lowers as [string];
  for (const rel of ['pub/mine', 'pub/suid', 'sticky/nobodyfile'])
    chownSync(join(root, rel), NOBODY, NOBODY);
  chownSync(join(root, 'sgid'), 0, USERS);
}

const asNobody: Op[] = [
  ['ids'],
  ['create', 'pub/new', 0o640],
  ['stat', 'pub/new'],
  ['mkdir', 'pub/newdir', 0o750],
  ['stat', 'pub/newdir'],
  ['symlink', 'target', 'pub/newlink'],
  ['stat', 'pub/newlink'],
  ['mkfifo', 'pub/fifo', 0o600],
  ['stat', 'pub/fifo'],
  // set-group-ID directory: the directory's group, and new directories keep the bit
  ['create', 'sgid/f', 0o644],
  ['stat', 'sgid/f'],
  ['mkdir', 'sgid/d', 0o755],
  ['stat', 'sgid/d'],
  ['create', 'sgid/d/deeper', 0o644],
  ['stat', 'sgid/d/deeper'],
  // sticky directory: others' files stay
  ['unlink', 'sticky/rootfile'],
  ['rename', 'sticky/rootfile', 'sticky/moved'],
  ['rename', 'pub/new', 'sticky/rootfile'],
  ['unlink', 'sticky/nobodyfile'],
  ['create', 'sticky/own', 0o644],
  ['unlink', 'sticky/own'],
  // set-user-ID and set-group-ID are dropped by a write
  ['append', 'pub/suid', 'echo\n'],
  ['stat', 'pub/suid'],
  // chmod/chown: only the owner, and only to a group the owner is in
  ['chmod', 'pub/rootfile', 0o600],
  ['chown', 'pub/rootfile', NOBODY, NOBODY],
  ['chown', 'pub/mine', 0, 0],
  ['chown', 'pub/mine', -1, USERS],
  ['chown', 'pub/mine', NOBODY, NOBODY],
  ['chmod', 'pub/mine', 0o2755],
  ['stat', 'pub/mine'],
  ['chmod', 'pub/mine', 0o4755],
  ['stat', 'pub/mine'],
  // times: "now" with write access, explicit times only for the owner
  ['utime_now', 'pub/rootfile'],
  ['utime', 'pub/rootfile', 1_000_000_000, 1_000_000_000],
  ['utime', 'pub/mine', 1_000_000_000, 2_000_000_000],
  ['times', 'pub/mine'],
  ['utime_now', 'secret'],
  // no access
  ['read', 'secret'],
  ['write', 'secret', 'x'],
  ['access', 'secret', R_OK],
  ['access', 'pub/rootfile', R_OK | W_OK],
  ['listdir', 'private'],
  ['stat', 'private/f'],
  ['create', 'private/g', 0o644],
  ['unlink', 'secret'],
  ['mkdir', 'nope'],
];

const asRoot: Op[] = [
  // chown drops set-user-ID (and set-group-ID with group execute), also for root
  ['chown', 'pub/rootsuid', 1, 1],
  ['stat', 'pub/rootsuid'],
  ['chmod', 'pub/rootsuid', 0o6755],
  ['chown', 'pub/rootsuid', -1, -1],
  ['stat', 'pub/rootsuid'],
  ['create', 'pub/byroot', 0o644],
  ['stat', 'pub/byroot'],
];

describe('permissions for many users (allow_other, default_permissions)', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('another user sees what the kernel shows it', async () => {
    const pair = await mountPair({ lowers: [lower], prepare: owners, allowOther: true });
    const results = onBoth(pair, asNobody, NOBODY);
    expect(results.union).toEqual(results.kernel);
    // The oracle itself, so that a shared mistake cannot pass unnoticed.
    expect(results.union).toContain(`["unlink","sticky/rootfile"] → ["EPERM"]`);
    expect(results.union).toContain(`["utime","pub/rootfile",1000000000,1000000000] → ["EPERM"]`);
    expect(results.union).toContain(`["utime_now","pub/rootfile"] → ["ok"]`);
    expect(results.union).toContain(`["read","secret"] → ["EACCES"]`);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
  });

  it.skipIf(possible !== true)('root: chown drops set-id bits as Linux does', async () => {
    const pair = await mountPair({ lowers: [lower], prepare: owners, allowOther: true });
    const results = onBoth(pair, asRoot);
    expect(results.union).toEqual(results.kernel);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
  });
});
