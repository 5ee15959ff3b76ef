/**
 * Crash at any moment: a seeded workload (copy-up of a large file, appends to lower files, write
 * then rename-over, many creates, mkdir and rename of directories, unlinks of lower files) runs
 * against the mount until the daemon is killed with SIGKILL at a seeded moment. Then: `unionmount
 * umount` clears the dead mount, a remount cleans the work dir, every file holds a complete old or
 * new content, no temporary name shows, the lowers are byte-identical and kernel overlayfs mounts
 * the same upper with the same tree. UNIONMOUNT_CRASH_ROUNDS=200 for the long mode.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { snapshot } from '../helpers/tree.js';
import { writeLayer } from '../helpers/layers.js';
import {
  cleanupMounts,
  kernelOverlay,
  mountingPossible,
  testDir,
  union,
} from '../helpers/mounts.js';
import { cliUmount, envNumber, rng, startDaemon, until } from './support.js';

const WORKLOAD = new URL('./workload.mjs', import.meta.url).pathname;
const ROUNDS = envNumber('UNIONMOUNT_CRASH_ROUNDS', 6);
const BIG = 48 << 20;
const PATTERN = Buffer.alloc(BIG, 'big data ');

function lowerLayer(dir: string): string {
  const spec: Record<string, string> = {};
  for (let k = 0; k < 5; k++) {
    spec[`f${k}`] = `old-${k}\n`;
    spec[`r${k}`] = `old-r-${k}`;
    spec[`u${k}`] = 'old-u';
  }
  for (let k = 0; k < 3; k++) spec[`dl${k}/x`] = 'dl-x';
  const lower = writeLayer(join(dir, 'lower'), spec);
  fs.writeFileSync(join(lower, 'big'), PATTERN);
  return lower;
}

/** Every name below `root` (byte strings), depth first. */
function names(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(join(root, rel))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    out.push(child);
    if (fs.lstatSync(join(root, child)).isDirectory()) out.push(...names(root, child));
  }
  return out;
}

/** What each name may hold after a crash: a complete old or new content, never a part. */
function checkMerged(mnt: string): void {
  const all = names(mnt);
  expect(all.filter((n) => n.split('/').some((part) => part.startsWith('#')))).toEqual([]);
  const text = (rel: string): string => fs.readFileSync(join(mnt, rel), 'latin1');
  for (let k = 0; k < 5; k++) {
    expect(text(`f${k}`)).toMatch(new RegExp(`^old-${k}\\n(A\\n)*$`));
    expect(text(`r${k}`)).toMatch(new RegExp(`^(old-r-${k}|new-\\d+)$`));
    if (all.includes(`u${k}`)) expect(text(`u${k}`)).toBe('old-u');
  }
  for (let k = 0; k < 3; k++) {
    const at = [`dl${k}`, `dm${k}`].filter((n) => all.includes(n));
    // dl/dm renames may also land on another k; each directory keeps its own file intact.
    for (const d of at) expect(text(`${d}/x`)).toBe('dl-x');
  }
  const big = fs.statSync(join(mnt, 'big')).size;
  expect((big - BIG) % 4).toBe(0);
  // The copy-up is whole or absent: the original data ends where it ended in the lower.
  const fd = fs.openSync(join(mnt, 'big'), 'r');
  const end = Buffer.alloc(1 << 20);
  fs.readSync(fd, end, 0, end.length, BIG - end.length);
  fs.closeSync(fd);
  expect(end.equals(PATTERN.subarray(BIG - end.length))).toBe(true);
  for (const n of all.filter((n) => /^c\/\d+$/.test(n)))
    expect(['', `c${n.slice(2)}`]).toContain(text(n));
  for (const n of all.filter((n) => /^[de]\d+\/x$/.test(n)))
    expect(['', `x${n.slice(1, -2)}`]).toContain(text(n));
}

describe('crash at any moment', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    `kill -9 at ${ROUNDS} seeded moments: old or new, never partial; kernel agrees`,
    async () => {
      const dir = testDir();
      const lower = lowerLayer(dir);
      const lowerBefore = snapshot(lower, { xattrs: [''] });
      const bigBefore = fs.readFileSync(join(lower, 'big'));
      for (let seed = 1; seed <= ROUNDS; seed++) {
        const upper = join(dir, `upper${seed}`);
        const mnt = join(dir, `mnt${seed}`);
        fs.mkdirSync(upper);
        fs.mkdirSync(mnt);
        const daemon = await startDaemon(['--lower', lower, '--upper', upper], mnt);
        const work = spawn(process.execPath, [WORKLOAD, 'crash', mnt, String(seed)], {
          stdio: 'inherit',
        });
        const workDone = new Promise((resolve) => work.once('exit', resolve));
        await until(() => fs.readdirSync(upper).length > 0, 'the workload to start');
        await new Promise((resolve) => setTimeout(resolve, rng(seed)(600)));
        daemon.child.kill('SIGKILL');
        await daemon.exit;
        expect(cliUmount(mnt).status).toBe(0);
        await workDone;

        const again = await union({ lowers: [lower], upper, mountpoint: mnt });
        expect(fs.readdirSync(join(`${upper}.work`, 'work'))).toEqual([]);
        checkMerged(mnt);
        const ours = snapshot(mnt);
        await again.unmount();

        const kmnt = join(dir, `kernel${seed}`);
        fs.mkdirSync(kmnt);
        const kernel = kernelOverlay({
          lowers: [lower],
          upper,
          mountpoint: kmnt,
          extra: 'redirect_dir=on',
        });
        try {
          expect(snapshot(kmnt)).toEqual(ours);
        } finally {
          kernel.unmount();
        }
      }
      expect(snapshot(lower, { xattrs: [''] })).toEqual(lowerBefore);
      expect(fs.readFileSync(join(lower, 'big')).equals(bigBefore)).toBe(true);
    },
    ROUNDS * 20_000,
  );
});
