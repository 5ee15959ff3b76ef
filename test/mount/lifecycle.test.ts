/**
 * The mount's life: clean unmount on signals, stale mounts after a crash (explained, then cleared
 * by --force or `unionmount umount`), and a crash in the middle of a copy-up that leaves no partial
 * file at the real name.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir, union } from '../helpers/mounts.js';
import { mountAt } from '../../src/fuse/mounts.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  const holds = (): boolean => {
    try {
      return condition();
    } catch {
      return false; // e.g. a stale mount still in place
    }
  };
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const mounted = (mnt: string): boolean => mountAt(mnt)?.fstype === 'fuse.unionmount';

function startCli(args: string[]): ReturnType<typeof spawn> {
  return spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

const exitOf = (child: ReturnType<typeof spawn>): Promise<number | null> =>
  new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/** A read-only mount whose daemon was killed: "Transport endpoint is not connected". */
async function staleMount(): Promise<{ lower: string; mnt: string }> {
  const dir = testDir();
  const lower = writeLayer(join(dir, 'lower'), { f: 'x' });
  const mnt = join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const child = startCli(['--lower', lower, mnt]);
  await until(() => mounted(mnt), 'the mount');
  const exit = exitOf(child);
  child.kill('SIGKILL');
  await exit;
  return { lower, mnt };
}

describe('mount lifecycle', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it.skipIf(possible !== true)(`${signal} unmounts and exits 0`, async () => {
      const dir = { path: testDir() };
      const lower = writeLayer(join(dir.path, 'lower'), { f: 'x' });
      const mnt = join(dir.path, 'mnt');
      fs.mkdirSync(mnt);
      fs.mkdirSync(join(dir.path, 'up'));
      const child = startCli(['--lower', lower, '--upper', join(dir.path, 'up'), mnt]);
      const exit = exitOf(child);
      await until(() => mounted(mnt), 'the mount');
      child.kill(signal);
      expect(await exit).toBe(0);
      expect(mountAt(mnt)).toBeUndefined();
    });
  }

  it.skipIf(possible !== true)(
    'says a busy mount is busy, keeps serving, detaches on a second signal',
    async () => {
      const dir = { path: testDir() };
      const lower = writeLayer(join(dir.path, 'lower'), { f: 'x' });
      const mnt = join(dir.path, 'mnt');
      fs.mkdirSync(mnt);
      const child = startCli(['--lower', lower, mnt]);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exit = exitOf(child);
      await until(() => mounted(mnt), 'the mount');
      const holder = spawn('sh', ['-c', `exec 3< ${mnt}/f; sleep 30`], { stdio: 'ignore' });
      await until(() => fs.readdirSync(`/proc/${holder.pid}/fd`).includes('3'), 'the open file');
      child.kill('SIGTERM');
      await until(() => /busy/.test(stderr), 'the busy message');
      expect(mounted(mnt)).toBe(true);
      expect(fs.readFileSync(join(mnt, 'f'), 'utf8')).toBe('x'); // still serving
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      holder.kill('SIGKILL');
      expect(mountAt(mnt)).toBeUndefined();
    },
  );

  it.skipIf(possible !== true)('explains a stale mount and clears it with --force', async () => {
    const { lower, mnt } = await staleMount();
    expect(() => fs.statfsSync(mnt)).toThrow(/ENOTCONN/); // a stat may come from the cache

    const again = spawnSync(process.execPath, [CLI, '--lower', lower, mnt], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/stale mount .*--force/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);

    const forced = startCli(['--lower', lower, '--force', mnt]);
    const forcedExit = exitOf(forced);
    await until(() => mounted(mnt) && fs.readFileSync(join(mnt, 'f'), 'utf8') === 'x', 'remount');
    const umount = spawnSync(process.execPath, [CLI, 'umount', mnt], { encoding: 'utf8' });
    expect(umount.status).toBe(0);
    expect(await forcedExit).toBe(0);
  });

  it.skipIf(possible !== true)('umount clears a stale mount', async () => {
    const { mnt } = await staleMount();
    const umount = spawnSync(process.execPath, [CLI, 'umount', mnt], { encoding: 'utf8' });
    expect(umount.status).toBe(0);
    expect(mountAt(mnt)).toBeUndefined();
  });

  it.skipIf(possible !== true)(
    'kill -9 during a large copy-up leaves no partial file',
    async () => {
      const dir = { path: testDir() };
      const lower = join(dir.path, 'lower');
      fs.mkdirSync(lower);
      const big = Buffer.alloc(64 << 20, 'abcdefgh');
      const fd = fs.openSync(join(lower, 'big'), 'w');
      for (let i = 0; i < 8; i++) fs.writeSync(fd, big); // 512 MiB of real data
      fs.closeSync(fd);
      const size = fs.statSync(join(lower, 'big')).size;
      const upper = join(dir.path, 'upper');
      fs.mkdirSync(upper);
      const mnt = join(dir.path, 'mnt');
      fs.mkdirSync(mnt);
      const child = startCli(['--lower', lower, '--upper', upper, mnt]);
      await until(() => mounted(mnt), 'the mount');
      const exit = exitOf(child);
      const append = fs.promises.appendFile(join(mnt, 'big'), 'tail').catch((err: Error) => err);
      const scratchDir = join(`${upper}.work`, 'work');
      await until(() => fs.readdirSync(scratchDir).length > 0, 'the copy-up to start');
      child.kill('SIGKILL');
      await exit;
      expect(await append).toBeInstanceOf(Error);
      // No partial file at the real name: the copy is either absent or complete.
      const atName = fs.existsSync(join(upper, 'big')) ? fs.statSync(join(upper, 'big')).size : 0;
      expect([0, size, size + 4]).toContain(atName);

      const ours = await union({ lowers: [lower], upper, mountpoint: mnt, force: true });
      try {
        expect(fs.statSync(join(mnt, 'big')).size).toBeGreaterThanOrEqual(size);
        expect(fs.readdirSync(scratchDir)).toEqual([]); // leftovers cleaned at mount
      } finally {
        await ours.unmount();
      }
    },
  );
});
