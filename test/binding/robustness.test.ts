// Misbehaving ops (throw, Error as errno, double reply), concurrency, per-thread cleanup under
// load, and unmount of a busy mount.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMount, mustMount, py, startMount, type DaemonStats, type Mount } from './harness.js';

const STRESS_SECONDS = Number(process.env.BINDING_STRESS_SECONDS ?? 12);

/** The daemon's stderr arrives through a pipe, after the syscall that caused it returned. */
async function logged(m: Mount, re: RegExp): Promise<string> {
  for (let i = 0; i < 100 && !re.test(m.stderr()); i++) await sleep(20);
  return m.stderr();
}

const statErrno = (p: string): string => {
  try {
    fs.statSync(p);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unknown';
  }
};

/** One burst: `threads` python threads hammering the mount for `seconds`. */
function burst(mnt: string, threads: number, seconds: number): Promise<void> {
  const script = `
import os, sys, threading, time
mnt, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def work(i):
    end = time.time() + secs
    p = '%s/d%d/s' % (mnt, i)  # one directory each: lookups in one directory are serialised
    while time.time() < end:
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, b'x' * 4096, 0)
        os.pread(fd, 4096, 0)
        os.fstat(fd)
        os.close(fd)
        os.stat(p)
        os.unlink(p)
ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
`;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, mnt, String(threads), String(seconds)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`burst exit ${code}`))));
  });
}

describe.skipIf(!canMount && !mustMount)('binding: robustness', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount({
      options: { attrTimeout: 0, entryTimeout: 0 },
      seed: (backing) => {
        for (let i = 0; i < 40; i++) fs.mkdirSync(path.join(backing, `d${i}`));
      },
    });
  });
  afterAll(async () => {
    await m?.close();
  });

  it('turns a throwing op into EIO, logs one line, and keeps serving', async () => {
    expect(statErrno(path.join(m.mnt, '__throw1'))).toBe('EIO');
    const log = await logged(m, /op threw/);
    expect(log).toMatch(/getattr: op threw: Error: getattr threw on purpose/);
    expect(log.match(/op threw/g)).toHaveLength(1);
    expect(statErrno(m.mnt)).toBe('ok');
  });

  it('turns an Error passed as errno into EIO', async () => {
    expect(statErrno(path.join(m.mnt, '__error1'))).toBe('EIO');
    expect(await logged(m, /bad reply/)).toMatch(/getattr: bad reply Error: an Error object/);
    expect(statErrno(m.mnt)).toBe('ok');
  });

  it('ignores and logs a second reply; the worker does not answer later requests with it', async () => {
    expect(statErrno(path.join(m.mnt, '__twice1'))).toBe('ENOENT');
    expect(await logged(m, /more than once/)).toMatch(/getattr: reply called more than once/);
    fs.writeFileSync(path.join(m.mnt, 'after-twice'), 'ok');
    for (let i = 0; i < 20; i++) expect(statErrno(path.join(m.mnt, 'after-twice'))).toBe('ok');
    expect(statErrno(path.join(m.mnt, 'missing'))).toBe('ENOENT');
  });

  it('serves requests concurrently', () => {
    const t0 = Date.now();
    const out = py(
      `
import os, sys, threading
res = []
def f(i):
    try: os.stat('%s/d%d/__slow' % (sys.argv[1], i))
    except OSError as e: res.append(e.errno)
ts = [threading.Thread(target=f, args=(i,)) for i in range(16)]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(res))
`,
      m.mnt,
    );
    expect(out.trim()).toBe('16');
    expect(Date.now() - t0).toBeLessThan(4000); // 16 × 0.5 s one at a time would be 8 s
  });

  it(
    `keeps threads and per-thread handles flat under ${STRESS_SECONDS} s of bursts`,
    async () => {
      const rounds: { peak: DaemonStats; after: DaemonStats }[] = [];
      const end = Date.now() + STRESS_SECONDS * 1000;
      while (Date.now() < end) {
        const running = burst(m.mnt, 40, 1.5);
        await sleep(700);
        const peak = await m.stats();
        await running;
        await sleep(500); // idle workers exit once more than 10 are idle; closes run on the loop
        rounds.push({ peak, after: await m.stats() });
      }
      const first = rounds[0]!.after;
      const last = rounds.at(-1)!.after;
      // Workers were created and ended (the pool grew past libfuse's 10 idle threads) ...
      expect(Math.max(...rounds.map((r) => r.peak.locals))).toBeGreaterThan(11);
      // ... and their thread locals and async handles went with them.
      for (const { after } of rounds) expect(after.locals).toBeLessThanOrEqual(16);
      expect(last.locals).toBeLessThanOrEqual(first.locals + 4);
      expect(last.tasks).toBeLessThanOrEqual(first.tasks + 4);
      expect(last.fds).toBeLessThanOrEqual(first.fds + 4);
    },
    STRESS_SECONDS * 1000 + 60_000,
  );

  it('reports EBUSY on unmount while a file is open, then unmounts', async () => {
    const holder = spawn('python3', [
      '-c',
      'import sys,time; f=open(sys.argv[1],"w"); time.sleep(30)',
      path.join(m.mnt, 'busy'),
    ]);
    try {
      await sleep(500);
      await expect(m.unmount()).rejects.toMatchObject({ code: 'EBUSY' });
      expect(statErrno(m.mnt)).toBe('ok');
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
  });
});
