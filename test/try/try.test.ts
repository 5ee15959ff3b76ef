/**
 * try, apply, diff --content, cat, extract and layers on real directories: `try` runs a real
 * script in its private mount namespace, and applying its layer must leave the directory exactly
 * as running the script there directly does.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';
import { cli, writeImage } from '../tools/fixtures.js';

const possible = mountingPossible();
const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

afterEach(cleanupMounts);

const SCRIPT = `set -e
echo new > added.txt
printf 'a\\nB\\nc\\nd\\n' > src/lib/util.js
rm junk.log
mv old renamed
echo more >> renamed/keep.txt
mkdir -p build && echo bin > build/out
chmod 600 README
`;

/** A project directory and the script, in a fresh test directory. */
function project(): { dir: string; proj: string; script: string } {
  const dir = testDir();
  const proj = writeLayer(join(dir, 'proj'), {
    README: 'hello\n',
    'src/lib/util.js': 'a\nb\nc\n',
    'old/keep.txt': 'x\n',
    'old/sub/deep.txt': 'deep\n',
    'junk.log': 'junk\n',
  });
  const script = join(dir, 'script.sh');
  writeFileSync(script, SCRIPT);
  return { dir, proj, script };
}

/** The tree the script leaves when run directly on a copy of `proj`. */
function directRun(dir: string, proj: string, script: string): string[] {
  const copy = join(dir, 'direct');
  cpSync(proj, copy, { recursive: true, preserveTimestamps: true });
  execFileSync('sh', [script], { cwd: copy });
  return snapshot(copy);
}

const exec = promisify(execFile);

async function unionmount(
  args: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [MAIN, ...args], { cwd });
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout, err: e.stderr };
  }
}

describe('try', () => {
  it.skipIf(possible !== true)(
    'shows the changes, keeps them, and apply leaves DIR as a direct run',
    async () => {
      const { dir, proj, script } = project();
      const expected = directRun(dir, proj, script);
      const before = snapshot(proj);
      const sandbox = join(dir, 'sandbox');
      const tried = await unionmount(['try', '--keep', sandbox, '--', 'sh', script], proj);
      expect(tried.err).toBe('');
      expect(tried.code).toBe(0);
      for (const line of ['A /added.txt', 'D /junk.log', 'D /old/', 'A /renamed/keep.txt'])
        expect(tried.out).toContain(line);
      expect(tried.out).toMatch(/^C \/src\/lib\/util\.js +6 -> 8 bytes$/m);
      expect(tried.out).toContain(`kept: unionmount apply --upper ${sandbox} ${proj}\n`);
      expect(snapshot(proj)).toEqual(before); // nobody outside the namespace saw a change

      const plan = await unionmount(['apply', '--upper', sandbox, '--dry-run', '.'], proj);
      expect(plan.out.split('\n')[0]).toBe('rename /old -> /renamed');
      expect(plan.out).toContain('delete /junk.log\n');
      expect(plan.out).toContain('write  /src/lib/util.js (8 bytes)\n');
      expect(snapshot(proj)).toEqual(before);

      const applied = await unionmount(['apply', '--upper', sandbox, proj], dir);
      expect(applied.code).toBe(0);
      expect(snapshot(proj)).toEqual(expected);
      expect(existsSync(join(sandbox, 'added.txt'))).toBe(true); // the sandbox is only read
    },
  );

  it.skipIf(possible !== true)(
    'discards: DIR stays byte-identical, the exit status is passed on',
    async () => {
      const { proj, script } = project();
      const before = snapshot(proj);
      const tried = await unionmount(['try', '--', 'sh', '-c', `sh ${script} && exit 3`], proj);
      expect(tried.code).toBe(3);
      expect(tried.out).toContain('A /added.txt');
      // Changed: util.js and README. src/ and src/lib/ were copied up, but as in the kernel a
      // copy-up leaves the times of the directory it copies into as they were.
      expect(tried.out.trimEnd().split('\n').slice(-2)).toEqual([
        '7 added, 2 changed, 2 deleted',
        'discarded',
      ]);
      expect(snapshot(proj)).toEqual(before);
    },
  );

  it.skipIf(possible !== true)('asks on a terminal and applies on y', async () => {
    const { dir, proj, script } = project();
    const expected = directRun(dir, proj, script);
    const command = `${process.execPath} ${MAIN} try --dir ${proj} -- sh ${script}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: proj });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('apply these changes? [y/N]')) child.stdin.write('y\n');
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(out).toContain('apply these changes? [y/N]');
    expect(out).toContain(`applied to ${proj}`);
    expect(code).toBe(0);
    expect(snapshot(proj)).toEqual(expected);
  });

  it('refuses a sandbox inside DIR', async () => {
    const { proj } = project();
    const tried = await unionmount(['try', '--keep', join(proj, 'sb'), '--', 'true'], proj);
    expect(tried.code).toBe(2);
    expect(tried.err).toBe(
      `unionmount: sandbox ${join(proj, 'sb')}: overlaps the directory ${proj}; choose one outside it with --keep\n`,
    );
  });
});

describe('apply', () => {
  it.skipIf(possible !== true)(
    'refuses, listing the paths, when DIR changed where the sandbox did',
    async () => {
      const { dir, proj, script } = project();
      const sandbox = join(dir, 'sandbox');
      await unionmount(['try', '--keep', sandbox, '--', 'sh', script], proj);
      writeFileSync(join(proj, 'src/lib/util.js'), 'edited meanwhile\n');
      writeFileSync(join(proj, 'old/sub/deep.txt'), 'edited meanwhile\n');
      writeFileSync(join(proj, 'unrelated.txt'), 'fine\n');
      const before = snapshot(proj);
      const applied = await unionmount(['apply', '--upper', sandbox, proj], dir);
      expect(applied.code).toBe(1);
      expect(applied.err).toBe(
        'conflict: /old\nconflict: /src/lib/util.js\n' +
          `unionmount: ${proj}: changed since the sandbox was made at 2 paths it changed too; nothing applied\n`,
      );
      expect(snapshot(proj)).toEqual(before);
      // --only the paths nobody else touched applies those alone.
      const only = await unionmount(
        ['apply', '--upper', sandbox, '--only', '/added.txt', '--', proj],
        dir,
      );
      expect(only.code).toBe(0);
      expect(readFileSync(join(proj, 'added.txt'), 'utf8')).toBe('new\n');
      expect(readFileSync(join(proj, 'src/lib/util.js'), 'utf8')).toBe('edited meanwhile\n');
    },
  );

  it.skipIf(possible !== true)(
    'killed mid-apply: each file old or new, sandbox intact, apply again finishes',
    async () => {
      const dir = testDir();
      const files: Record<string, string> = {};
      for (let i = 0; i < 200; i++)
        files[`d/f${String(i).padStart(3, '0')}`] = 'old'.repeat(100_000);
      const target = writeLayer(join(dir, 'target'), files);
      for (const name of Object.keys(files)) files[name] = 'new'.repeat(100_000);
      const upper = writeLayer(join(dir, 'upper'), files);
      const sandboxBefore = snapshot(upper);

      const child = spawn(process.execPath, [MAIN, 'apply', '--upper', upper, target]);
      const contents = (): string[] =>
        readdirSync(join(target, 'd')).map((f) =>
          readFileSync(join(target, 'd', f), 'latin1').slice(0, 3),
        );
      while (!contents().includes('new') && child.exitCode === null)
        await new Promise(setImmediate);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const seen = contents();
      expect(seen).toHaveLength(200);
      expect(seen.every((c) => c === 'old' || c === 'new')).toBe(true);
      expect(snapshot(upper)).toEqual(sandboxBefore);

      const again = await unionmount(['apply', '--upper', upper, target], dir);
      expect(again.code).toBe(0);
      expect(new Set(contents())).toEqual(new Set(['new']));
      expect(readdirSync(target)).toEqual(['d']); // the dead apply's staging is cleared
    },
  );
});

describe('looking inside layers', () => {
  it('diff --content shows unified diffs of text files', async () => {
    const dir = testDir();
    const lower = writeLayer(join(dir, 'lower'), { 'a.txt': 'one\ntwo\n', bin: 'x\0y' });
    const upper = writeLayer(join(dir, 'upper'), {
      'a.txt': 'one\n2\n',
      bin: 'x\0z',
      'n.txt': 'hi\n',
    });
    const { code, out } = await cli('diff', '--lower', lower, '--upper', upper, '--content');
    expect(code).toBe(0);
    expect(out).toBe(
      'C /a.txt\nC /bin\nA /n.txt\n' +
        '--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n' +
        'Binary file /bin differs\n' +
        '--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hi\n',
    );
  });

  it('cat and extract read one layer, also a file a later layer deleted', async () => {
    const dir = testDir();
    const { a, b } = writeImage(dir);
    expect(await cli('cat', '--lower', `${a}:${b}`, '--layer', '2', '/etc/old.txt')).toEqual({
      code: 0,
      out: 'old\n',
      err: '',
    });
    const deleted = await cli('cat', '--lower', `${a}:${b}`, '--layer', '1', '/etc/old.txt');
    expect(deleted.code).toBe(2);
    expect(deleted.err).toBe(
      'unionmount: /etc/old.txt: a whiteout in the lower 1 layer (deleted there)\n',
    );
    const dest = join(dir, 'etc-b');
    const extracted = await cli('extract', '--lower', `${a}:${b}`, '--layer', '2', '/etc', dest);
    expect(extracted.code).toBe(0);
    expect(snapshot(dest)).toEqual(snapshot(join(b, 'etc')));
    const file = join(dir, 'conf');
    await cli('extract', '--lower', `${a}:${b}`, '--layer', '1', '/etc/app.conf', file);
    expect(readFileSync(file, 'utf8')).toBe('layer a config\n');
  });

  it('layers reports each layer and the waste, and --ci fails past the thresholds', async () => {
    const dir = testDir();
    const { a, b } = writeImage(dir);
    const { code, out } = await cli('layers', '--lower', `${a}:${b}`, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out) as {
      layers: { layer: string; added: unknown[]; modified: unknown[]; removed: unknown[] }[];
      totalBytes: number;
      wastedBytes: number;
    };
    expect(report.layers.map((l) => l.layer)).toEqual(['lower 2', 'lower 1']);
    expect(report.layers[1]).toMatchObject({
      added: [{ path: '/var/run.pid', bytes: 3 }],
      modified: [{ path: '/etc/app.conf', bytes: 15 }],
      removed: [
        { path: '/etc/old.txt', bytes: 4 },
        { path: '/var/', bytes: 7 },
      ],
      duplicatedBytes: 12,
      hiddenBytes: 11,
    });
    // b's app.conf (12 bytes) is replaced, old.txt (4) and boot.log (7) hidden.
    expect(report.wastedBytes).toBe(12 + 4 + 7);
    const ci = await cli('layers', '--lower', `${a}:${b}`, '--ci', '--highest-wasted-bytes', '10');
    expect(ci.code).toBe(1);
    expect(ci.out).toContain('FAIL wasted bytes 23 (highest allowed 10)\n');
    const ok = await cli('layers', '--lower', `${a}:${b}`, '--ci', '--lowest-efficiency', '0.5');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^PASS efficiency 0\.\d{4} \(lowest allowed 0\.5\)$/m);
  });
});
