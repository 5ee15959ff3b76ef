/**
 * Exact names: every byte 1..255 except '/', newlines, 255-byte multibyte names round-trip through
 * create, readdir, rename, symlink targets, xattr names and values; the upper on disk holds the
 * same bytes and a kernel mount of it lists the same. Calls on the mount are async: the parent
 * must keep draining the daemon's event pipe (see api.ts).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanupMounts,
  kernelOverlay,
  mountingPossible,
  testDir,
  union,
} from '../helpers/mounts.js';
import * as native from '../../src/layers/native.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** One name per byte, names with every byte, newlines, 255-byte multibyte names. */
function names(): string[] {
  const all: string[] = [];
  for (let b = 1; b < 256; b++) {
    if (b === 0x2f || b === 0x2e) continue; // '/' cannot be in a name; '.' alone is not a name
    all.push(String.fromCharCode(b), `x${String.fromCharCode(b)}y`);
  }
  const every = [...Array(255).keys()].map((i) => i + 1).filter((b) => b !== 0x2f);
  all.push(String.fromCharCode(...every.slice(0, 254))); // 254 distinct bytes in one name
  all.push('line\nbreak\n', '\xff\xfe', 'a\x7fb', '..x', '.hidden');
  all.push(Buffer.from('é'.repeat(127) + 'x', 'utf8').toString('latin1')); // 255 bytes
  all.push(Buffer.from('日本'.repeat(42) + 'abc', 'utf8').toString('latin1')); // 255 bytes
  all.push(Buffer.from('\u{1f600}'.repeat(63) + 'abc', 'utf8').toString('latin1')); // 255 bytes
  return all;
}

const listing = async (dir: string): Promise<string[]> =>
  (await fsp.readdir(dir, { encoding: 'buffer' })).map((n) => n.toString('latin1')).sort();

describe('exact names', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'every byte round-trips; the upper and the kernel agree',
    async () => {
      const dir = testDir();
      const lower = join(dir, 'lower');
      fs.mkdirSync(join(lower, 'in'), { recursive: true });
      fs.mkdirSync(join(dir, 'upper'));
      fs.mkdirSync(join(dir, 'mnt'));
      const all = names();
      expect(all.some((n) => n.length === 255)).toBe(true);
      const u = await union({
        lowers: [lower],
        upper: join(dir, 'upper'),
        mountpoint: join(dir, 'mnt'),
      });
      const m = u.mountpoint;
      try {
        for (const [i, name] of all.entries()) {
          await fsp.writeFile(bytes(join(m, 'in') + '/' + name), bytes(name));
          if (i % 2 === 0) await fsp.symlink(bytes(name), bytes(`${m}/in/l${i}`));
        }
        expect(await listing(join(m, 'in'))).toEqual(
          [...all, ...all.flatMap((_, i) => (i % 2 === 0 ? [`l${i}`] : []))].sort(),
        );
        for (const [i, name] of all.entries()) {
          expect((await fsp.readFile(bytes(`${m}/in/${name}`))).toString('latin1')).toBe(name);
          if (i % 2 === 0)
            expect((await fsp.readlink(bytes(`${m}/in/l${i}`), 'buffer')).toString('latin1')).toBe(
              name,
            );
        }
        // rename each to a longer-by-one variant where it fits, and back into place
        await fsp.mkdir(join(m, 'out'));
        for (const name of all)
          await fsp.rename(bytes(`${m}/in/${name}`), bytes(`${m}/out/${name}`));
        // xattr names and values with odd bytes
        const target = bytes(`${m}/out/${all[0]}`);
        for (const b of [1, 0x0a, 0x7f, 0x80, 0xfe, 0xff]) {
          const name = `user.${String.fromCharCode(b)}n`;
          native.setxattr(target, name, bytes(`v${String.fromCharCode(b)}\n`));
        }
        for (const b of [1, 0x0a, 0x7f, 0x80, 0xfe, 0xff]) {
          const name = `user.${String.fromCharCode(b)}n`;
          expect(native.getxattr(target, name)?.toString('latin1')).toBe(
            `v${String.fromCharCode(b)}\n`,
          );
        }
        const xattrs = native
          .listxattr(target)
          .filter((n) => n.startsWith('user.'))
          .sort();
        expect(xattrs).toHaveLength(6);

        expect(await listing(join(dir, 'upper', 'out'))).toEqual([...all].sort());
        expect(
          native
            .listxattr(bytes(join(dir, 'upper', 'out') + '/' + all[0]))
            .filter((n) => n.startsWith('user.'))
            .sort(),
        ).toEqual(xattrs);
        const fromMount = await listing(join(m, 'out'));
        await u.unmount();
        fs.mkdirSync(join(dir, 'kmnt'));
        const kernel = kernelOverlay({
          lowers: [lower],
          upper: join(dir, 'upper'),
          mountpoint: join(dir, 'kmnt'),
        });
        try {
          expect(await listing(join(dir, 'kmnt', 'out'))).toEqual(fromMount);
          for (const name of all)
            expect(fs.readFileSync(bytes(`${dir}/kmnt/out/${name}`)).toString('latin1')).toBe(name);
        } finally {
          kernel.unmount();
        }
        process.stdout.write(`exact names: ${all.length} names tried\n`);
      } finally {
        await u.unmount().catch(() => undefined);
      }
    },
  );

  it.skipIf(possible !== true)('256-byte names: ENAMETOOLONG', async () => {
    const dir = testDir();
    fs.mkdirSync(join(dir, 'lower'));
    const u = await union({ lowers: [join(dir, 'lower')], ephemeral: true });
    try {
      expect(() => fs.writeFileSync(join(u.mountpoint, 'x'.repeat(256)), '')).toThrow(
        /ENAMETOOLONG/,
      );
      expect(() => fs.statSync(join(u.mountpoint, 'x'.repeat(256)))).toThrow(/ENAMETOOLONG/);
    } finally {
      await u.unmount();
    }
  });
});
