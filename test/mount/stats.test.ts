/**
 * `--stats FILE`: requests by op, copy-ups and cache counters, written on SIGUSR1 and at unmount.
 * Also pins that the caches behind the counters stay exact: every change made through the mount
 * shows at once in the next stat, through every name of a hard link.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir } from '../helpers/mounts.js';
import { mountAt } from '../../src/fuse/mounts.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `unionmount --stats` over a lower made of `spec` (and an empty upper if asked), mounted. */
async function mountWithStats(spec: Record<string, string>, flags: string[], withUpper: boolean) {
  const dir = testDir();
  const lower = writeLayer(join(dir, 'lower'), spec);
  const mnt = join(dir, 'mnt');
  const statsFile = join(dir, 'stats.txt');
  fs.mkdirSync(mnt);
  const upper = withUpper ? ['--upper', join(dir, 'upper')] : [];
  if (withUpper) fs.mkdirSync(join(dir, 'upper'));
  const child = spawn(
    process.execPath,
    [CLI, '--lower', lower, ...upper, ...flags, '--stats', statsFile, mnt],
    { stdio: 'ignore' },
  );
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await until(() => mountAt(mnt)?.fstype === 'fuse.unionmount', 'the mount');
  return { mnt, statsFile, child, exit };
}

/** The files below `dir`, found as `find -type f` finds them: from listings alone. */
function listFiles(dir: string): string[] {
  const handle = fs.opendirSync(dir);
  const files: string[] = [];
  for (let e = handle.readSync(); e; e = handle.readSync()) {
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...listFiles(path));
    else files.push(path);
  }
  handle.closeSync();
  return files;
}

describe('mount --stats', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'reports requests, copy-ups and caches; stats stay exact',
    async () => {
      const { mnt, statsFile, child, exit } = await mountWithStats(
        { 'd/f': 'lower data', 'd/g': 'g' },
        [],
        true,
      );

      const f = join(mnt, 'd/f');
      expect(fs.statSync(f).size).toBe(10);
      fs.appendFileSync(f, '+more'); // copy-up, then a write
      expect(fs.statSync(f).size).toBe(15);
      fs.linkSync(f, join(mnt, 'd/h'));
      fs.appendFileSync(join(mnt, 'd/h'), '!');
      expect(fs.statSync(f).size).toBe(16);
      expect(fs.statSync(f).nlink).toBe(2);
      expect(fs.readFileSync(f, 'utf8')).toBe('lower data+more!');
      fs.chmodSync(join(mnt, 'd/g'), 0o600);
      expect(fs.statSync(join(mnt, 'd/g')).mode & 0o777).toBe(0o600);

      child.kill('SIGUSR1');
      await until(() => fs.existsSync(statsFile), 'the stats file');
      const report = fs.readFileSync(statsFile, 'utf8');
      expect(report).toMatch(/^getattr +[1-9]\d* +\d+ /m);
      // The kernel writes and reads the upper file itself (FUSE passthrough): no write requests.
      expect(report).not.toMatch(/^(write|read) /m);
      expect(report).not.toMatch(/^flush /m); // no op: the kernel stops sending FLUSH
      expect(report).toMatch(/copy-ups 3, 11 bytes/); // d (no data), d/f and d/g
      expect(report).toMatch(/lookup cache: [1-9]\d* hits/);
      expect(report).toMatch(/stat cache: [1-9]\d* hits/);

      fs.rmSync(statsFile);
      expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
      expect(await exit).toBe(0);
      expect(fs.readFileSync(statsFile, 'utf8')).toMatch(/^unionmount stats after/);
    },
  );

  it.skipIf(possible !== true)('a walk after a listing is answered ahead', async () => {
    const files = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`d/f${i}`, 'x']));
    const { mnt, statsFile, exit } = await mountWithStats(files, [], true);
    // In the listing's order, as find does (readdirSync sorts: opendir does not).
    const dir = fs.opendirSync(join(mnt, 'd'));
    for (let e = dir.readSync(); e; e = dir.readSync())
      expect(fs.lstatSync(join(mnt, 'd', e.name)).size).toBe(1);
    dir.closeSync();
    expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
    expect(await exit).toBe(0);
    const report = fs.readFileSync(statsFile, 'utf8');
    // The first name's getattr sends the other 59 ahead: few getattrs reach the ops.
    expect(report).toMatch(/^getattr +[1-5] /m);
    expect(report).toMatch(/^attributes sent ahead: 5\d lookups/m);
  });

  it.skipIf(possible !== true)(
    'lookups in a new directory are answered in the binding',
    async () => {
      const { mnt, statsFile, exit } = await mountWithStats({ 'd/f': 'x' }, [], true);
      fs.mkdirSync(join(mnt, 'new'));
      for (let i = 0; i < 20; i++) fs.writeFileSync(join(mnt, 'new', `f${i}`), `${i}`);
      expect(fs.readdirSync(join(mnt, 'new'))).toHaveLength(20);
      expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
      expect(await exit).toBe(0);
      const report = fs.readFileSync(statsFile, 'utf8');
      // Each create's lookup first. Only one ENOENT reaches the ops: the lookup of new itself.
      expect(report).toMatch(/^lookups in new directories answered in the binding: 2\d$/m);
      expect(report).toMatch(/^getattr +\d+ +1 /m);
    },
  );

  it.skipIf(possible !== true)('a walk after a listing asks nothing (READDIRPLUS)', async () => {
    const layer = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`d/e/f${i}`, 'x']));
    const { mnt, statsFile, child, exit } = await mountWithStats(layer, [], true);
    const report = async (): Promise<string[]> => {
      child.kill('SIGUSR1');
      await until(() => fs.existsSync(statsFile), 'the stats file');
      const text = fs.readFileSync(statsFile, 'utf8');
      fs.rmSync(statsFile);
      return [/^getattr +\d+/m, /^attributes sent ahead: \d+/m].map((re) => re.exec(text)![0]);
    };
    const files = listFiles(mnt); // as find -type f: the listings' types, no stat
    const listed = await report();
    for (const file of files) fs.lstatSync(file);
    expect(await report()).toEqual(listed);
    // Each first listing dropped the directory's atime in the kernel, which asks for it at the
    // next stat: a lower directory's attributes are kept in the binding (settled), so none of
    // those GETATTRs reaches the ops.
    for (const dir of ['d', 'd/e']) fs.statSync(join(mnt, dir));
    expect((await report())[0]).toEqual(listed[0]);
    expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
    expect(await exit).toBe(0);
  });

  it.skipIf(possible !== true)('lower files listed are opened in the binding', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`d/f${i}`, `${i}`]));
    const { mnt, statsFile, exit } = await mountWithStats({ ...files, first: 'x' }, [], true);
    // Real paths are sent only while lower files are being read (not to a find): read one first.
    expect(fs.readFileSync(join(mnt, 'first'), 'utf8')).toBe('x');
    const dir = fs.opendirSync(join(mnt, 'd'));
    for (let e = dir.readSync(); e; e = dir.readSync())
      expect(fs.readFileSync(join(mnt, 'd', e.name), 'utf8')).toBe(e.name.slice(1));
    dir.closeSync();
    expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
    expect(await exit).toBe(0);
    const report = fs.readFileSync(statsFile, 'utf8');
    // Their real paths came with the attributes sent ahead: only the first open reaches the ops.
    expect(report).toMatch(/^lower files opened in the binding: 30$/m);
    expect(report).toMatch(/^open +1 /m);
  });

  it.skipIf(possible !== true)(
    'reads of lower files are answered in the binding; reads that move atime are not',
    async () => {
      const data = Buffer.alloc(3 << 20, 'lower file ');
      const { mnt, statsFile, exit } = await mountWithStats(
        { big: data.toString(), small: 'x' },
        ['--no-passthrough'],
        true,
      );
      expect(fs.readFileSync(join(mnt, 'big')).equals(data)).toBe(true);
      fs.writeFileSync(join(mnt, 'new'), 'upper'); // an upper file: reading it records access
      spawnSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
      expect(fs.readFileSync(join(mnt, 'new'), 'utf8')).toBe('upper');
      expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
      expect(await exit).toBe(0);
      const report = fs.readFileSync(statsFile, 'utf8');
      expect(report).toMatch(/^read +[1-9]\d* /m);
      expect(report).toMatch(/^reads answered in the binding: [1-9]\d*$/m);
    },
  );

  it.skipIf(possible !== true)(
    "an open file's attributes are answered in the binding (passthrough), exactly",
    async () => {
      const { mnt, statsFile, exit } = await mountWithStats({ keep: 'x' }, [], true);
      const file = join(mnt, 'new');
      const fd = fs.openSync(file, 'w', 0o600);
      fs.writeSync(fd, 'data'); // the kernel writes it (passthrough) after asking security.capability
      fs.fchmodSync(fd, 0o640);
      fs.fchownSync(fd, 1234, 5678);
      fs.futimesSync(fd, 1_000_000, 2_000_000);
      const open = fs.fstatSync(fd);
      fs.closeSync(fd);
      const closed = fs.statSync(file);
      expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
      expect(await exit).toBe(0);
      for (const st of [open, closed]) {
        expect([st.mode & 0o7777, st.uid, st.gid, st.size, st.mtimeMs]).toEqual([
          0o640, 1234, 5678, 4, 2_000_000_000,
        ]);
      }
      expect(closed.ino).toBe(open.ino);
      const report = fs.readFileSync(statsFile, 'utf8');
      expect(report).not.toMatch(/^(chmod|chown|utimens|getxattr) /m);
      expect(report).toMatch(/^open files' attributes answered in the binding: [1-9]\d*$/m);
    },
  );

  it.skipIf(possible !== true)('--no-cache keeps no stats in the daemon', async () => {
    const { mnt, statsFile, exit } = await mountWithStats({ f: 'x' }, ['--no-cache'], false);
    for (let i = 0; i < 3; i++) expect(fs.statSync(join(mnt, 'f')).size).toBe(1);
    expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
    expect(await exit).toBe(0);
    expect(fs.readFileSync(statsFile, 'utf8')).toMatch(
      /^stat cache: 0 hits, [1-9]\d* misses, 0 entries/m,
    );
  });

  it.skipIf(possible !== true)('--no-passthrough: every write is a request', async () => {
    const { mnt, statsFile, exit } = await mountWithStats({ f: 'x' }, ['--no-passthrough'], true);
    fs.writeFileSync(join(mnt, 'new'), 'written');
    expect(fs.readFileSync(join(mnt, 'new'), 'utf8')).toBe('written');
    expect(spawnSync(process.execPath, [CLI, 'umount', mnt]).status).toBe(0);
    expect(await exit).toBe(0);
    const report = fs.readFileSync(statsFile, 'utf8');
    expect(report).toMatch(/^write +1 /m);
    expect(report).toMatch(/^read +[1-9]/m);
  });
});
