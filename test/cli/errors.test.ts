/**
 * Bad input: one line naming the path (or option) and the problem, a non-zero exit code, and
 * nothing mounted, created or changed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratch, writeLayer } from '../helpers/layers.js';
import { snapshot } from '../helpers/tree.js';
import { mountsBelow } from '../helpers/mounts.js';
import { helperArgs } from '../../src/cli/mount-helper.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

describe('bad input', () => {
  const dir = scratch('um-cli-');
  const at = (p: string): string => join(dir.path, p);

  beforeAll(() => {
    writeLayer(at('a'), { 'f.txt': 'a' });
    writeLayer(at('b'), { 'g.txt': 'b', 'inner/': 'dir' });
    writeLayer(at('up'), {});
    writeLayer(at('mnt'), {});
    fs.writeFileSync(at('file'), 'not a directory');
  });
  afterAll(() => dir.remove());

  const cases: [string, () => string[], RegExp][] = [
    [
      'a missing lower',
      () => ['--lower', at('nope'), at('mnt')],
      /lower layer .*nope: no such directory/,
    ],
    [
      'a lower that is a file',
      () => ['--lower', at('file'), at('mnt')],
      /lower layer .*file: not a directory/,
    ],
    [
      'an empty --lower component',
      () => ['--lower', `${at('a')}::${at('b')}`, at('mnt')],
      /--lower .*: empty layer name/,
    ],
    [
      'a missing mountpoint',
      () => ['--lower', at('a'), at('nomnt')],
      /mountpoint .*nomnt: no such directory/,
    ],
    [
      'a mountpoint that is a file',
      () => ['--lower', at('a'), at('file')],
      /mountpoint .*file: not a directory/,
    ],
    [
      'the same directory twice',
      () => ['--lower', `${at('a')}:${at('a')}`, at('mnt')],
      /the same directory as/,
    ],
    [
      'an upper inside a lower',
      () => ['--lower', at('b'), '--upper', at('b/inner'), at('mnt')],
      /upper layer .*inner: inside the lower layer/,
    ],
    [
      'a lower inside the upper',
      () => ['--lower', at('up/x'), '--upper', at('up'), at('mnt')],
      /no such directory|inside the upper/,
    ],
    [
      'a mountpoint inside a layer',
      () => ['--lower', at('b'), at('b/inner')],
      /mountpoint .*inner: inside the lower layer/,
    ],
    [
      'a work dir on another filesystem',
      () => ['--lower', at('a'), '--upper', at('up'), '--work', '/dev/shm', at('mnt')],
      /work directory \/dev\/shm: not on the upper layer's filesystem/,
    ],
    [
      '--ephemeral with --upper',
      () => ['--lower', at('a'), '--upper', at('up'), '--ephemeral', at('mnt')],
      /--ephemeral and --upper/,
    ],
    [
      'an unknown option',
      () => ['--lower', at('a'), '--bogus', at('mnt')],
      /unknown option '--bogus'/,
    ],
    ['no --lower', () => [at('mnt')], /required option '--lower <dirs>'/],
  ];

  for (const [name, args, message] of cases) {
    it(`refuses ${name}`, () => {
      const before = snapshot(dir.path);
      const result = spawnSync(process.execPath, [CLI, ...args()], { encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(snapshot(dir.path)).toEqual(before);
      expect(mountsBelow(dir.path)).toEqual([]);
    });
  }

  it('refuses a lower inside the upper', () => {
    fs.mkdirSync(at('up2/sub'), { recursive: true });
    const result = spawnSync(
      process.execPath,
      [CLI, '--lower', at('up2/sub'), '--upper', at('up2'), at('mnt')],
      { encoding: 'utf8' },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/lower layer .*sub: inside the upper layer/);
  });
});

describe('mount(8) helper options', () => {
  it('translates kernel-style options', () => {
    expect(helperArgs('rw,lowerdir=/a:/b,upperdir=/c,workdir=/w,allow_other', '/mnt')).toEqual([
      '--lower',
      '/a:/b',
      '--upper',
      '/c',
      '--work',
      '/w',
      '--allow-other',
      '/mnt',
    ]);
  });

  it('refuses unknown options and missing values', () => {
    expect(() => helperArgs('lowerdir=/a,frobnicate', '/m')).toThrow(/option frobnicate: unknown/);
    expect(() => helperArgs('lowerdir=', '/m')).toThrow(/option lowerdir: needs a value/);
    expect(() => helperArgs('ro,lowerdir=/a,upperdir=/c', '/m')).toThrow(
      /read-only mount takes no upperdir/,
    );
  });
});
