/**
 * Errors in layers: a file removed or swapped behind the daemon's back gives that operation the
 * right errno and nothing else fails; an exception inside a handler becomes EIO with a log line.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir, union } from '../helpers/mounts.js';
import { createOps } from '../../src/fuse/adapter.js';
import type { Overlay } from '../../src/core/overlay.js';

const codeOf = async (action: () => Promise<unknown>): Promise<string | undefined> =>
  action().then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err.code,
  );

describe('errors in layers', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'changes behind the daemon: the right errno, nothing else fails',
    async () => {
      const dir = testDir();
      const lower = writeLayer(join(dir, 'lower'), {
        gone: 'g',
        swapped: 's',
        'd/x': 'x',
        ok: 'ok',
      });
      fs.writeFileSync(join(dir, 'outside'), 'outside');
      fs.mkdirSync(join(dir, 'upper'));
      const u = await union({ lowers: [lower], upper: join(dir, 'upper'), cache: false });
      const m = u.mountpoint;
      try {
        await fs.promises.readdir(m);
        fs.unlinkSync(join(lower, 'gone'));
        fs.rmSync(join(lower, 'd'), { recursive: true });
        fs.unlinkSync(join(lower, 'swapped'));
        fs.symlinkSync(join(dir, 'outside'), join(lower, 'swapped'));
        expect(await codeOf(() => fs.promises.readFile(join(m, 'gone')))).toBe('ENOENT');
        expect(await codeOf(() => fs.promises.readdir(join(m, 'd')))).toBe('ENOENT');
        // Now a symlink in the layer: shown as one, and writing through it changes nothing outside.
        expect((await fs.promises.lstat(join(m, 'swapped'))).isSymbolicLink()).toBe(true);
        expect(await fs.promises.readFile(join(m, 'ok'), 'utf8')).toBe('ok');
        await fs.promises.appendFile(join(m, 'ok'), '+');
        expect(await fs.promises.readFile(join(m, 'ok'), 'utf8')).toBe('ok+');
        expect(fs.readFileSync(join(dir, 'outside'), 'utf8')).toBe('outside');
        expect(u.log()).not.toMatch(/unexpected/);
      } finally {
        await u.unmount();
      }
    },
  );

  it('a handler exception becomes EIO and a log line; the next request is served', async () => {
    const logged: string[] = [];
    let calls = 0;
    const overlay = {
      getattr: () => {
        calls++;
        return calls === 1
          ? Promise.reject(new TypeError('boom'))
          : Promise.reject(Object.assign(new Error(), { code: 'ENOENT' }));
      },
    } as unknown as Overlay;
    const ops = createOps(overlay, {
      context: () => ({ uid: 0, gid: 0, pid: 0, umask: 0 }),
      log: (m) => logged.push(m),
    });
    const reply = (): Promise<number> =>
      new Promise((resolve) => ops.getattr('/x', (errno: number) => resolve(errno)));
    expect(await reply()).toBe(-5);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/getattr: unexpected error, answered EIO: TypeError: boom/);
    expect(await reply()).toBe(-2);
  });
});
