/**
 * Paths deeper than PATH_MAX below the mount: every call stays under the kernel's limit (relative
 * to a directory the caller is in), while the daemon's own path inside the layer grows past 4096
 * bytes and is resolved in pieces.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupMounts, mountingPossible, unionInTestDir } from '../helpers/mounts.js';

const LEVEL = 'd'.repeat(200);

describe('deep trees', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('work past 4096 bytes of path inside the layer', async () => {
    const { upper, mnt, mounted } = await unionInTestDir();
    // 30 levels of 200 bytes: about 6000 bytes, built and used in steps of 10 levels.
    const step = Array(10).fill(LEVEL).join('/');
    let at = mnt;
    const fds: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        fs.mkdirSync(join(at, step), { recursive: true });
        at = `/proc/self/fd/${fs.openSync(join(at, step), 'r')}`;
        fds.push(Number(at.split('/').at(-1)));
      }
      fs.writeFileSync(join(at, 'bottom.txt'), 'deep\n');
      expect(fs.readFileSync(join(at, 'bottom.txt'), 'utf8')).toBe('deep\n');
      fs.renameSync(join(at, 'bottom.txt'), join(at, 'moved.txt'));
      expect(fs.readdirSync(at)).toEqual(['moved.txt']);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    await mounted.unmount();
    // The upper holds it at the same depth (checked by walking down relative to open dirs).
    let dir = fs.openSync(upper, 'r');
    for (let i = 0; i < 30; i++) {
      const next = fs.openSync(`/proc/self/fd/${dir}/${LEVEL}`, 'r');
      fs.closeSync(dir);
      dir = next;
    }
    expect(fs.readFileSync(`/proc/self/fd/${dir}/moved.txt`, 'utf8')).toBe('deep\n');
    fs.closeSync(dir);
  });
});
