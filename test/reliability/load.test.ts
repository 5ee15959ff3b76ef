/**
 * Load: 16 processes create, write, rename, unlink, mkdir, truncate and chmod in parallel (each in
 * its own directory, over lower content) while 4 walkers list everything, for 20 s
 * (UNIONMOUNT_LOAD_SECONDS=60 for the long mode). Each process's results, errno by errno, and the
 * final tree equal the same operations on a plain directory. Then 16 processes append to one
 * lower file at once: one copy-up, all 16 appends present.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { snapshot } from '../helpers/tree.js';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir, union } from '../helpers/mounts.js';
import { envNumber } from './support.js';

const WORKLOAD = new URL('./workload.mjs', import.meta.url).pathname;
const SECONDS = envNumber('UNIONMOUNT_LOAD_SECONDS', 20);
const WORKERS = 16;

const run = (args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKLOAD, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // 'close', not 'exit': only then has all of stdout been read.
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`workload ${args.join(' ')}: ${code}`)),
    );
  });

function lowerSpec(): Record<string, string> {
  const spec: Record<string, string> = { shared: 'lower\n' };
  for (let p = 0; p < WORKERS; p++) for (let k = 0; k < 4; k++) spec[`p${p}/lower${k}`] = `l${k}\n`;
  return spec;
}

describe('load', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    `${WORKERS} writers and 4 walkers for ${SECONDS} s equal a plain directory`,
    async () => {
      const dir = testDir();
      const lower = writeLayer(join(dir, 'lower'), lowerSpec());
      const reference = writeLayer(join(dir, 'reference'), lowerSpec());
      fs.mkdirSync(join(dir, 'upper'));
      fs.mkdirSync(join(dir, 'mnt'));
      const u = await union({
        lowers: [lower],
        upper: join(dir, 'upper'),
        mountpoint: join(dir, 'mnt'),
      });
      try {
        const ms = String(SECONDS * 1000);
        const writers = [...Array(WORKERS).keys()].map((p) =>
          run(['load', u.mountpoint, String(p + 1), `p${p}`, ms]),
        );
        const walkers = [0, 1, 2, 3].map(() => run(['walk', u.mountpoint, ms]));
        const results = (await Promise.all(writers)).map(
          (out) => JSON.parse(out) as { ops: number; results: string[] },
        );
        const walks = (await Promise.all(walkers)).map(
          (out) => JSON.parse(out) as { visits: number; unexpected: string[] },
        );
        expect(walks.flatMap((w) => w.unexpected)).toEqual([]);
        for (const [p, { ops, results: got }] of results.entries()) {
          const plain = JSON.parse(
            await run(['load', reference, String(p + 1), `p${p}`, `=${ops}`]),
          ) as { results: string[] };
          expect(got).toEqual(plain.results);
        }
        expect(snapshot(u.mountpoint)).toEqual(snapshot(reference));
        const total = results.reduce((sum, r) => sum + r.ops, 0);
        process.stdout.write(
          `load: ${total} operations by ${WORKERS} processes in ${SECONDS} s, ${walks.reduce((s, w) => s + w.visits, 0)} walker visits\n`,
        );
        expect(u.log()).not.toMatch(/unexpected/);
      } finally {
        await u.unmount();
      }
    },
    SECONDS * 1000 * 3 + 60_000,
  );

  it.skipIf(possible !== true)(
    '16 appends to one lower file at once: one copy-up, all present',
    async () => {
      const dir = testDir();
      const lower = writeLayer(join(dir, 'lower'), { shared: 'lower\n' });
      fs.mkdirSync(join(dir, 'upper'));
      const u = await union({ lowers: [lower], upper: join(dir, 'upper') });
      try {
        const events = u.events();
        await Promise.all(
          [...Array(16).keys()].map((i) =>
            run(['append', join(u.mountpoint, 'shared'), `append ${i}\n`]),
          ),
        );
        const lines = (await fs.promises.readFile(join(u.mountpoint, 'shared'), 'utf8')).split(
          '\n',
        );
        expect(lines[0]).toBe('lower');
        expect(lines.slice(1, -1).sort()).toEqual(
          [...Array(16).keys()].map((i) => `append ${i}`).sort(),
        );
        await u.unmount();
        const copyUps: string[] = [];
        for await (const event of events) if (event.type === 'copy-up') copyUps.push(event.path);
        expect(copyUps).toEqual(['/shared']);
        expect(fs.readFileSync(join(lower, 'shared'), 'utf8')).toBe('lower\n');
      } finally {
        await u.unmount().catch(() => undefined);
      }
    },
  );
});
