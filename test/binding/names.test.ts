// Byte-exact names and link targets (latin1 both ways in the patch), and name length limits.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMount, mustMount, startMount, type Mount } from './harness.js';

const bytes = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

describe.skipIf(!canMount && !mustMount)('binding: names are bytes', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.close();
  });

  it('keeps a name holding every byte 1..255 except "/"', () => {
    const name = Buffer.from([...Array(255).keys()].map((i) => i + 1).filter((b) => b !== 0x2f));
    fs.writeFileSync(bytes(m.mnt, '/', name), 'all');
    expect(fs.readdirSync(m.mnt, { encoding: 'buffer' })).toContainEqual(name);
    expect(fs.readdirSync(m.backing, { encoding: 'buffer' })).toContainEqual(name);
    expect(fs.readFileSync(bytes(m.backing, '/', name), 'utf8')).toBe('all');
  });

  it('keeps each byte distinct (no U+FFFD collisions)', () => {
    const dir = path.join(m.mnt, 'each');
    fs.mkdirSync(dir);
    const names: Buffer[] = [];
    for (let b = 1; b < 256; b++) {
      if (b === 0x2f) continue;
      const name = Buffer.from([0x61, b]);
      names.push(name);
      fs.writeFileSync(bytes(dir, '/', name), String(b));
    }
    const listed = fs.readdirSync(dir, { encoding: 'buffer' }).map((n) => n.toString('hex'));
    expect(listed.sort()).toEqual(names.map((n) => n.toString('hex')).sort());
    for (const name of names) {
      expect(fs.readFileSync(bytes(dir, '/', name), 'utf8')).toBe(String(name[1]));
    }
  });

  it('accepts 255-byte names and refuses 256 with ENAMETOOLONG', () => {
    fs.writeFileSync(path.join(m.mnt, 'n'.repeat(255)), '');
    expect(fs.existsSync(path.join(m.backing, 'n'.repeat(255)))).toBe(true);
    expect(() => fs.writeFileSync(path.join(m.mnt, 'n'.repeat(256)), '')).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG' }) as Error,
    );
  });

  it('keeps a symlink target with \\xff bytes', () => {
    const target = bytes('tgt\xff\xfe/x\x80');
    const link = bytes(m.mnt, '/lnk\xff');
    fs.symlinkSync(target, link);
    expect(fs.readlinkSync(link, { encoding: 'buffer' })).toEqual(target);
    expect(fs.readlinkSync(bytes(m.backing, '/lnk\xff'), { encoding: 'buffer' })).toEqual(target);
  });
});
