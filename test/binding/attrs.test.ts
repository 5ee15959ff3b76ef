// Caller context and ownership, nanosecond times with UTIME_OMIT, 64-bit inode numbers, d_type.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asNobody, canMount, mustMount, py, startMount, type Mount } from './harness.js';

const INO_OFFSET = 2 ** 33;

describe.skipIf(!canMount && !mustMount)('binding: attributes and caller context', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount({
      inoOffset: INO_OFFSET,
      options: { allowOther: true, defaultPermissions: true, attrTimeout: 0, entryTimeout: 0 },
      seed: (backing) => {
        fs.mkdirSync(path.join(backing, 'pub'));
        fs.chmodSync(path.join(backing, 'pub'), 0o1777);
        fs.writeFileSync(path.join(backing, 'f'), 'f');
      },
    });
  });
  afterAll(async () => {
    await m?.close();
  });

  it('gives ops the caller uid, gid, pid and umask; new files belong to the caller', async () => {
    asNobody(`umask 027; echo hi > ${m.mnt}/pub/file; mkdir ${m.mnt}/pub/dir`);
    const file = fs.statSync(path.join(m.backing, 'pub/file'));
    const dir = fs.statSync(path.join(m.backing, 'pub/dir'));
    expect([file.uid, file.gid, file.mode & 0o777]).toEqual([65534, 65534, 0o640]);
    expect([dir.uid, dir.gid, dir.mode & 0o777]).toEqual([65534, 65534, 0o750]);
    const ctx = await m.ctx('/pub/file');
    expect(ctx).toMatchObject({ uid: 65534, gid: 65534, umask: 0o027 });
    expect(ctx!.pid).toBeGreaterThan(1);
    expect((await m.ctx('/pub/dir'))?.uid).toBe(65534);
  });

  it('enforces default_permissions for other users', () => {
    expect(() => asNobody(`touch ${m.mnt}/denied 2>/dev/null`)).toThrow();
    expect(fs.existsSync(path.join(m.backing, 'denied'))).toBe(false);
  });

  it('sets mtime only and atime only, to the nanosecond', () => {
    const f = path.join(m.mnt, 'f');
    py('import os,sys; os.utime(sys.argv[1], ns=(1000000000111111111, 1100000000222222222))', f);
    execFileSync('touch', ['-m', '-d', '@1234567890.123456789', f]);
    const times = (p: string) =>
      py('import os,sys; s=os.stat(sys.argv[1]); print(s.st_atime_ns, s.st_mtime_ns)', p).trim();
    expect(times(f)).toBe('1000000000111111111 1234567890123456789');
    expect(times(path.join(m.backing, 'f'))).toBe('1000000000111111111 1234567890123456789');
    execFileSync('touch', ['-a', '-d', '@1300000000.987654321', f]);
    expect(times(f)).toBe('1300000000987654321 1234567890123456789');
  });

  it('passes UTIME_NOW through', () => {
    const f = path.join(m.mnt, 'f');
    const before = Date.now() * 1e6;
    execFileSync('touch', ['-m', f]);
    const mtime = Number(fs.statSync(f, { bigint: true }).mtimeNs);
    expect(mtime).toBeGreaterThanOrEqual(before - 2e9);
    expect(fs.statSync(f, { bigint: true }).atimeNs).toBe(1300000000987654321n);
  });

  it('shows st_ino above 2^32 in stat and in readdir d_ino, with d_type', () => {
    const backingIno = fs.statSync(path.join(m.backing, 'f'), { bigint: true }).ino;
    const expected = backingIno + BigInt(INO_OFFSET);
    expect(fs.statSync(path.join(m.mnt, 'f'), { bigint: true }).ino).toBe(expected);
    const out = py(
      'import os,sys\nfor e in os.scandir(sys.argv[1]): print(e.name, e.inode(), e.is_dir(follow_symlinks=False))',
      m.mnt,
    );
    expect(out).toContain(`f ${expected} False`);
    expect(out).toMatch(/^pub \d+ True$/m);
    expect(expected).toBeGreaterThan(2n ** 32n);
  });
});
