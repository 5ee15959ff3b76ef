/**
 * Hostile and unusual layers get the kernel's answers: character devices other than 0/0 are
 * devices, only opaque="y" is opaque, "x" marks the kernel's xattr whiteouts, odd file types and
 * large xattrs pass through (and survive copy-up).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as native from '../../src/layers/native.js';
import {
  cleanupMounts,
  kernelOverlay,
  mountingPossible,
  testDir,
  union,
} from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';

function hostileLayers(dir: string): string[] {
  const [top, bottom] = [join(dir, 'top'), join(dir, 'bottom')];
  for (const name of ['opaque-n', 'opaque-yes', 'opaque-x']) {
    fs.mkdirSync(join(top, name), { recursive: true });
    fs.mkdirSync(join(bottom, name), { recursive: true });
    fs.writeFileSync(join(bottom, name, 'below'), 'merged unless opaque\n');
  }
  const set = (path: string, name: string, value: string | Buffer): void =>
    native.setxattr(Buffer.from(join(top, path)), name, Buffer.from(value));
  set('opaque-n', 'trusted.overlay.opaque', 'n');
  set('opaque-yes', 'trusted.overlay.opaque', 'yes');
  set('opaque-x', 'trusted.overlay.opaque', 'x');
  fs.writeFileSync(join(top, 'opaque-x', 'xwhiteout'), '');
  set('opaque-x/xwhiteout', 'trusted.overlay.whiteout', 'y');
  fs.writeFileSync(join(bottom, 'opaque-x', 'xwhiteout'), 'hidden by an xattr whiteout\n');
  execFileSync('mknod', ['-m', '644', join(top, 'null'), 'c', '1', '3']);
  execFileSync('mkfifo', ['-m', '644', join(top, 'fifo')]);
  fs.writeFileSync(join(top, 'big-xattr'), 'data\n');
  set('big-xattr', 'user.big', Buffer.alloc(3500, 'x'));
  return [top, bottom];
}

/** Reads through the mount and changes it: a device read, a copy-up keeping a large xattr. */
function exercise(mnt: string): string[] {
  fs.chmodSync(join(mnt, 'big-xattr'), 0o600);
  const big = native.getxattr(Buffer.from(join(mnt, 'big-xattr')), 'user.big');
  return [
    `null reads ${fs.readFileSync(join(mnt, 'null')).length} bytes`,
    `user.big ${big?.length} bytes after copy-up`,
    ...snapshot(mnt, { xattrs: ['user.'] }),
  ];
}

describe('hostile layers', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('get the same answers as kernel overlayfs', async () => {
    const dir = testDir();
    const lowers = hostileLayers(dir);
    const [kernelUpper, ourUpper, mnt] = ['kupper', 'upper', 'mnt'].map((d) => join(dir, d));
    for (const d of [kernelUpper!, ourUpper!, mnt!]) fs.mkdirSync(d);

    const kernel = kernelOverlay({ lowers, upper: kernelUpper, mountpoint: mnt! });
    let expected: string[];
    try {
      expected = exercise(mnt!);
    } finally {
      kernel.unmount();
    }
    const ours = await union({ lowers, upper: ourUpper, mountpoint: mnt! });
    try {
      expect(exercise(mnt!)).toEqual(expected);
    } finally {
      await ours.unmount();
    }
    expect(expected).toContain('null reads 0 bytes');
    expect(expected.some((line) => line.startsWith('"opaque-x/xwhiteout"'))).toBe(false);
    expect(expected.some((line) => line.startsWith('"opaque-n/below"'))).toBe(true);
  });

  it.skipIf(possible !== true)('redirects: invalid ones refused as the kernel does', async () => {
    const dir = testDir();
    const [lower, mnt] = [join(dir, 'lower'), join(dir, 'mnt')];
    fs.mkdirSync(join(lower, 'real'), { recursive: true });
    fs.writeFileSync(join(lower, 'real', 'f'), 'r\n');
    fs.mkdirSync(mnt);
    const redirects = {
      'rel-slash': 'a/b',
      dotdot: '../real',
      missing: '/nope',
      ok: '/real',
      loop: '/loop',
    };
    const upperFor = (name: string): string => {
      const upper = join(dir, name);
      for (const [d, target] of Object.entries(redirects)) {
        fs.mkdirSync(join(upper, d), { recursive: true });
        native.setxattr(
          Buffer.from(join(upper, d)),
          'trusted.overlay.redirect',
          Buffer.from(target),
        );
      }
      return upper;
    };
    const look = (): string[] =>
      Object.keys(redirects).map((d) => {
        try {
          return `${d}: ${fs.readdirSync(join(mnt, d)).join(',')}`;
        } catch (err) {
          return `${d}: ${(err as NodeJS.ErrnoException).code}`;
        }
      });
    const kernel = kernelOverlay({
      lowers: [lower],
      upper: upperFor('kupper'),
      mountpoint: mnt,
      extra: 'redirect_dir=on',
    });
    let expected: string[];
    try {
      expected = look();
    } finally {
      kernel.unmount();
    }
    const ours = await union({ lowers: [lower], upper: upperFor('upper'), mountpoint: mnt });
    try {
      expect(look()).toEqual(expected);
    } finally {
      await ours.unmount();
    }
    expect(expected).toContain('dotdot: EINVAL');
    expect(expected).toContain('ok: f');
  });
});
