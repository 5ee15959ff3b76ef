/**
 * Every lesson runs through the CLI, as users run it, on real mounts: it must exit 0, print its
 * key lines, and leave nothing mounted or on disk. A lesson whose claim fails must exit non-zero.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { cleanupMounts, mountingPossible, mountsBelow } from '../helpers/mounts.js';
import { clearStaleMount } from '../../src/fuse/mounts.js';
import { LESSONS, runLesson, type Lesson } from '../../dist/lessons/index.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const run = promisify(execFile);

/**
 * The lessons' temporary directory for one test. Its prefix is not one that the mount helpers
 * sweep for strays, so another test's clean-up never takes a lesson's mounts away mid-run; mounts
 * a killed lesson left are cleared here.
 */
function lessonTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'um-lesson-'));
  onTestFinished(async () => {
    for (const mnt of mountsBelow(dir).reverse()) await clearStaleMount(mnt).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Runs the CLI with its temporary files in `tmp`; returns exit code and output. */
async function cli(
  args: string[],
  tmp: string,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, TMPDIR: tmp },
      timeout: 55_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code, out: stdout, err: stderr };
  }
}

/** Lines each lesson must print, besides its checks and the closing verdict. */
const KEY_LINES: Record<string, RegExp[]> = {
  disposable: [
    /trace copy-up {2}\/var\/log\/app\.log from lower 2 base \(15 bytes/,
    /trace whiteout \/etc\/motd/,
    /upper container\s+whiteout\s+file 28 B \(seen\)/,
    /c container\/etc\/motd/,
  ],
  deleting: [/upper container\s+whiteout/, /lower 1 base\s+file 8 MiB \(hidden\)/],
  'copy-up': [
    /f-1M\s+1 B\s+1 MiB\s+\d+\.\d ms/,
    /f-64M\s+1 B\s+64 MiB\s+\d+\.\d ms/,
    /RUN make; RUN rm -r cache\s+2\s+16\.0 MiB/,
  ],
  shared: [/web1\/mnt fuse\.unionmount/, /web3\s+web3\s+4 MiB\s+5 B/],
  building: [/---> using cache layers\/[0-9a-f]{12}/, /<none>\s+0 B\s+ENV PORT=8080/],
  opaque: [
    /c upper-a\/cache\/a\.o/,
    /upper upper-b\s+dir opaque \(seen\)/,
    /trace mnt-b: opaque {3}\/cache/,
  ],
};

describe('lessons', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it('covers every lesson', () => {
    expect(Object.keys(KEY_LINES).sort()).toEqual(LESSONS.map((l) => l.name).sort());
  });

  it('`unionmount lesson` lists them; an unknown one is refused', async () => {
    const tmp = lessonTmp();
    const list = await cli(['lesson'], tmp);
    expect(list.code).toBe(0);
    for (const lesson of LESSONS)
      expect(list.out).toMatch(new RegExp(`^${lesson.name}\\s+${lesson.title}$`, 'm'));
    const unknown = await cli(['lesson', 'nope'], tmp);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe(
      `unionmount: lesson nope: no such lesson (lessons: ${LESSONS.map((l) => l.name).join(', ')})\n`,
    );
  });

  for (const lesson of LESSONS) {
    it.skipIf(possible !== true)(`lesson ${lesson.name}: its claim holds`, async () => {
      const tmp = lessonTmp();
      const { code, out, err } = await cli(['lesson', lesson.name], tmp);
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(out).toMatch(/^Step 1: /m);
      expect(out).toMatch(/^✓ /m);
      expect(out).not.toMatch(/^✗ /m);
      expect(out).toContain(`The claim holds: ${lesson.claim}`);
      expect(out).not.toContain('\x1b['); // no colours when not on a terminal
      for (const line of KEY_LINES[lesson.name]!) expect(out).toMatch(line);
      // Nothing left behind: no mount, no lesson directory, no daemon log.
      expect(mountsBelow(tmp)).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
    });
  }
});

describe('a lesson whose claim does not hold', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('reports it, and still unmounts and cleans up', async () => {
    let dir = '';
    let mnt = '';
    const failing: Lesson = {
      name: 'failing',
      title: 'A lesson that fails',
      claim: 'nothing',
      async run(kit) {
        dir = kit.dir;
        const lower = kit.layer('lower', { f: 'x' });
        const mount = await kit.mount('mnt', [lower], kit.path('upper'));
        mnt = kit.path(mount.mnt);
        await kit.sh('echo y > mnt/f');
        kit.check('the lower changed', false, 'it never does');
      },
    };
    let out = '';
    expect(await runLesson(failing, { out: (text) => (out += text), colour: false })).toBe(false);
    expect(out).toContain('✗ the lower changed (it never does)');
    expect(out).toContain('The claim does NOT hold: the lower changed');
    expect(out).toContain('trace copy-up  /f from lower 1 lower (1 bytes');
    expect(mountsBelow(mnt)).toEqual([]);
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
  });

  it.skipIf(possible !== true)(
    'a command that fails ends the lesson with nothing left',
    async () => {
      let dir = '';
      const broken: Lesson = {
        name: 'broken',
        title: 'A lesson with a failing command',
        claim: 'nothing',
        async run(kit) {
          dir = kit.dir;
          await kit.mount('mnt', [kit.layer('lower')], kit.path('upper'));
          await kit.sh('cat mnt/missing');
        },
      };
      await expect(runLesson(broken, { out: () => undefined, colour: false })).rejects.toThrow(
        /'cat mnt\/missing' failed \(exit 1\)/,
      );
      expect(mountsBelow(dir)).toEqual([]);
      expect(() => readdirSync(dir)).toThrow(/ENOENT/);
    },
  );
});
