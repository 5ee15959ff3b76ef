/**
 * Disk full: the upper and its work dir on a 16 MiB tmpfs. Writes fail with ENOSPC (never EIO), a
 * copy-up that does not fit fails with ENOSPC and leaves the lower file visible and unchanged with
 * nothing partial in the upper or the work dir, the daemon keeps serving, and once space is freed
 * the same operations succeed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir, union } from '../helpers/mounts.js';

const MiB = 1 << 20;

function codeOf(action: () => void): string | undefined {
  try {
    action();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe('disk full', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'ENOSPC, never EIO; nothing partial; works after space is freed',
    async () => {
      const dir = testDir();
      const lower = writeLayer(join(dir, 'lower'), { small: 'small\n', 'd/x': 'x' });
      const big = Buffer.alloc(10 * MiB, 'lower data ');
      fs.writeFileSync(join(lower, 'big'), big);
      const small = join(dir, 'small-fs');
      fs.mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', small]);
      const union1 = await (async () => {
        try {
          for (const d of ['upper', 'work']) fs.mkdirSync(join(small, d));
          fs.mkdirSync(join(dir, 'mnt'));
          return await union({
            lowers: [lower],
            upper: join(small, 'upper'),
            work: join(small, 'work'),
            mountpoint: join(dir, 'mnt'),
          });
        } catch (err) {
          spawnSync('umount', ['-l', small]);
          throw err;
        }
      })();
      const mnt = union1.mountpoint;
      try {
        // 8 MiB of new data fit; then a 10 MiB copy-up cannot: ENOSPC, the lower file unchanged,
        // nothing of it in the upper or the work dir.
        const chunk = Buffer.alloc(MiB, 'f');
        const fd = fs.openSync(join(mnt, 'filler'), 'w');
        for (let i = 0; i < 8; i++) fs.writeSync(fd, chunk);
        expect(codeOf(() => fs.appendFileSync(join(mnt, 'big'), 'more'))).toBe('ENOSPC');
        expect(fs.readFileSync(join(mnt, 'big')).equals(big)).toBe(true);
        expect(fs.readdirSync(join(small, 'upper'))).toEqual(['filler']);
        expect(fs.readdirSync(join(small, 'work', 'work'))).toEqual([]);

        // Filling the disk: ENOSPC at the write that does not fit.
        let code: string | undefined;
        for (let i = 0; i < 32 && code === undefined; i++)
          code = codeOf(() => fs.writeSync(fd, chunk));
        fs.closeSync(fd);
        expect(code).toBe('ENOSPC');
        expect(codeOf(() => fs.writeFileSync(join(mnt, 'd', 'y'), Buffer.alloc(MiB)))).toBe(
          'ENOSPC',
        );

        // Still serving: reads, listings and small metadata changes work.
        expect(fs.readFileSync(join(mnt, 'small'), 'utf8')).toBe('small\n');
        expect(fs.readdirSync(mnt).sort()).toEqual(['big', 'd', 'filler', 'small']);

        // Space freed: the same operations succeed.
        fs.unlinkSync(join(mnt, 'filler'));
        fs.rmSync(join(mnt, 'd', 'y'), { force: true });
        fs.appendFileSync(join(mnt, 'big'), 'more');
        expect(fs.statSync(join(mnt, 'big')).size).toBe(big.length + 4);
        fs.writeFileSync(join(mnt, 'd', 'y'), Buffer.alloc(MiB));
        expect(fs.readFileSync(join(lower, 'big')).equals(big)).toBe(true);
        expect(union1.log()).not.toMatch(/unexpected/);
      } finally {
        // cleanupMounts may have taken it already: lazy and quiet.
        await union1.unmount().finally(() => spawnSync('umount', ['-l', small]));
      }
    },
  );
});
