/**
 * The public layer builders: what writeLayer puts on disk is the kernel's format (checked by
 * kernel overlayfs reading it), and readLayer gives back the spec it was written from.
 */
import { readdirSync, readFileSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  dir,
  fifo,
  file,
  opaqueDir,
  readLayer,
  symlink,
  whiteout,
  writeLayer,
  type LayerSpec,
} from '../../src/testing/layers.js';
import { OverlayFormat, USER_PREFIX } from '../../src/core/format.js';
import * as native from '../../src/layers/native.js';
import { cleanupMounts, kernelOverlay, mountingPossible, testDir } from '../helpers/mounts.js';

const spec: LayerSpec = {
  'etc/app.conf': 'text\n',
  'old.txt': whiteout(),
  'cache/': opaqueDir(),
  'cache/keep': 'kept\n',
  'bin/sh': symlink('busybox'),
  'empty/': dir(),
  'private/': dir(0o700),
  'run/pipe': fifo(),
  tool: file('#!/bin/sh\n', { mode: 0o755, xattrs: { 'user.note': 'hi' } }),
  'bytes.bin': Buffer.from([0xff, 0x00, 0xfe]),
  'ünïcode/naïve.txt': 'utf-8 names\n',
};

describe('writeLayer and readLayer', () => {
  afterEach(cleanupMounts);

  it('writes whiteouts and opaque directories in the kernel format', () => {
    const root = writeLayer(join(testDir(), 'layer'), spec);
    const wh = lstatSync(join(root, 'old.txt'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(
      native.getxattr(Buffer.from(join(root, 'cache')), 'trusted.overlay.opaque')?.toString(),
    ).toBe('y');
    expect(lstatSync(join(root, 'private')).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(root, 'tool')).mode & 0o7777).toBe(0o755);
  });

  it('reads back the spec it was written from', async () => {
    const root = writeLayer(join(testDir(), 'layer'), spec);
    expect(await readLayer(root)).toEqual(spec);
  });

  it('writes and reads the userxattr format when given one', async () => {
    const format = new OverlayFormat(USER_PREFIX);
    const root = writeLayer(join(testDir(), 'layer'), { 'd/': opaqueDir() }, { format });
    expect(native.getxattr(Buffer.from(join(root, 'd')), 'user.overlay.opaque')?.toString()).toBe(
      'y',
    );
    expect(await readLayer(root, { format })).toEqual({ 'd/': opaqueDir() });
    // Read in the other format, the marker is not opaque: an upper is never read both ways.
    expect(await readLayer(root)).toEqual({ 'd/': dir() });
  });

  const possible = mountingPossible();
  it.skipIf(possible !== true)('gives layers that kernel overlayfs merges as specified', () => {
    const base = testDir();
    const lower = writeLayer(join(base, 'lower'), { 'old.txt': 'old\n', 'cache/stale': 'x\n' });
    const upper = writeLayer(join(base, 'upper'), spec);
    const mnt = join(base, 'mnt');
    mkdirSync(mnt);
    const mount = kernelOverlay({ lowers: [lower], upper, mountpoint: mnt });
    try {
      expect(readdirSync(mnt).sort()).not.toContain('old.txt');
      expect(readdirSync(join(mnt, 'cache'))).toEqual(['keep']);
      expect(readFileSync(join(mnt, 'etc/app.conf'), 'utf8')).toBe('text\n');
    } finally {
      mount.unmount();
    }
  });
});
