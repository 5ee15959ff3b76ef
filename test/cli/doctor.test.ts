/**
 * `unionmount doctor`: one line per check, a fix in every line that is not ok, exit 1 only for
 * what would stop a mount. Run through the built CLI, on real directories and a real mount.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, kernelOverlay, mountingPossible, testDir } from '../helpers/mounts.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

function doctor(...args: string[]): { status: number | null; lines: string[]; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'doctor', ...args], { encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.trim().split('\n'), stderr: r.stderr };
}

function layers(): { base: string; lower: string; upper: string; mnt: string } {
  const base = testDir();
  const at = (p: string): string => writeLayer(join(base, p), {});
  return { base, lower: at('lower'), upper: at('upper'), mnt: at('mnt') };
}

describe('unionmount doctor', () => {
  afterEach(cleanupMounts);

  it('passes a sound set-up and leaves the upper as it was', () => {
    const { lower, upper, mnt } = layers();
    const r = doctor('--lower', lower, '--upper', upper, mnt);
    expect(r.status).toBe(0);
    expect(r.lines).toContain(
      'ok    trusted.* xattrs: supported on the filesystem of ' + upper + '.',
    );
    expect(r.lines).toContain(`ok    mountpoint ${mnt}: free.`);
    expect(r.lines.filter((l) => l.startsWith('fail'))).toEqual([]);
    expect(readdirSync(upper)).toEqual([]);
  });

  it('says what the mode of /dev/fuse means, with the fix', () => {
    const mode = statSync('/dev/fuse').mode & 0o777;
    const line = doctor().lines.find((l) => l.includes('/dev/fuse'));
    if ((mode & 0o006) === 0o006) expect(line).toMatch(/^ok {4}\/dev\/fuse: mode 0666/);
    else expect(line).toMatch(/only root can mount; for other users run chmod 0666 \/dev\/fuse/);
  });

  it('fails overlapping layers, a work directory on another filesystem, a missing mountpoint', () => {
    const { base, lower, upper } = layers();
    const nested = writeLayer(join(lower, 'nested'), {});
    const r = doctor(
      '--lower',
      `${lower}:${nested}`,
      '--upper',
      upper,
      '--work',
      '/dev/shm',
      join(base, 'none'),
    );
    expect(r.status).toBe(1);
    const failures = r.lines.filter((l) => l.startsWith('fail'));
    expect(failures).toEqual([
      `fail  lower layer ${nested}: inside the lower layer ${lower}; layers must be separate directories.`,
      "fail  work directory /dev/shm: not on the upper layer's filesystem; put it beside the upper (default: <upper>.work).",
      `fail  mountpoint ${join(base, 'none')}: no such directory; mkdir -p ${join(base, 'none')}.`,
    ]);
    expect(r.stderr).toBe('unionmount: doctor: 3 problem(s) would stop a mount\n');
  });

  const possible = mountingPossible();
  it.skipIf(possible !== true)('fails a mountpoint that is already mounted', () => {
    const { base, lower, mnt } = layers();
    mkdirSync(join(base, 'x'));
    kernelOverlay({ lowers: [lower, join(base, 'x')], mountpoint: mnt });
    const r = doctor(mnt);
    expect(r.status).toBe(1);
    expect(r.lines).toContain(
      `fail  mountpoint ${mnt}: already mounted; unmount it first or choose another directory.`,
    );
  });
});
