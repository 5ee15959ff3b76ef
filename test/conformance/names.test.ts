/**
 * Names, compared with kernel overlayfs: NAME_MAX 255 from statfs, ENAMETOOLONG for 256 bytes on
 * lookup and create, 255-byte multibyte UTF-8 names, and names that are not UTF-8 (raw bytes such
 * as 0xff, written here as U+DC80..U+DCFF: python's surrogateescape) through create, readdir and
 * rename, in the upper and in a lower.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupMounts, mountingPossible } from '../helpers/mounts.js';
import { mountPair, onBoth, type Op, trees } from './harness.js';

const byte = (b: number): string => String.fromCharCode(0xdc00 + b);
const long255 = 'n'.repeat(255);
const long256 = 'n'.repeat(256);
/** 255 bytes: 127 two-byte characters and one ASCII one; 255 bytes of three-byte characters. */
const utf8Two = 'é'.repeat(127) + 'a';
const utf8Three = '€'.repeat(85);
const raw = `raw${byte(0xff)}${byte(0xfe)}`;

/** A lower name with a byte that is not UTF-8 (a layer spec names files in UTF-8). */
function rawLowerName({ lowers }: { lowers: string[] }): void {
  const name = Buffer.concat([Buffer.from('dir/lower'), Buffer.from([0xff, 0x80])]);
  writeFileSync(Buffer.concat([Buffer.from(lowers[0]! + '/'), name]), 'raw lower\n');
}

const ops: Op[] = [
  ['statfs_namemax'],
  ['create', long255, 0o644],
  ['stat', long255],
  ['create', long256, 0o644],
  ['stat', long256],
  ['mkdir', long256],
  ['rename', long255, long256],
  ['stat', `dir/${long256}`],
  ['create', utf8Two, 0o644],
  ['create', utf8Three, 0o644],
  ['create', utf8Three + 'a', 0o644],
  ['create', raw, 0o644],
  ['write', raw, 'raw\n'],
  ['listdir', ''],
  ['listdir', 'dir'],
  ['read', `dir/lower${byte(0xff)}${byte(0x80)}`],
  ['rename', `dir/lower${byte(0xff)}${byte(0x80)}`, `dir/moved${byte(0xc3)}`],
  ['rename', raw, `dir/${raw}2`],
  ['mkdir', `sub${byte(0xfa)}`],
  ['rename', `dir/${raw}2`, `sub${byte(0xfa)}/${byte(0xff)}`],
  ['listdir', 'dir'],
  ['listdir', `sub${byte(0xfa)}`],
  ['read', `sub${byte(0xfa)}/${byte(0xff)}`],
  ['symlink', `target${byte(0xff)}`, `link${byte(0xfe)}`],
  ['readlink', `link${byte(0xfe)}`],
  ['unlink', utf8Two],
  ['listdir', ''],
];

describe('names', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('NAME_MAX, long, multibyte and raw-byte names', async () => {
    const pair = await mountPair({ lowers: [{ 'dir/x': 'x\n' }], prepare: rawLowerName });
    const results = onBoth(pair, ops);
    expect(results.union).toEqual(results.kernel);
    expect(results.union[0]).toBe('["statfs_namemax"] → ["ok",255]');
    expect(results.union).toContain(`["create","${long256}",420] → ["ENAMETOOLONG"]`);
    expect(results.union).toContain(`["stat","${long256}"] → ["ENAMETOOLONG"]`);
    const tree = trees(pair);
    expect(tree.union).toEqual(tree.kernel);
    expect(tree.union.some((line) => line.startsWith(JSON.stringify(`dir/moved\u00c3`)))).toBe(
      true,
    );
  });
});
