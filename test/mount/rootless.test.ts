/**
 * Rootless: an unprivileged user mounts with the setuid fusermount and gets the kernel's
 * userxattr format (user.overlay.*), which kernel overlayfs mounts with `-o userxattr` in a user
 * namespace. /dev/fuse is 0600 on this machine (stock Debian: 0666); the test sets the stock mode
 * and restores it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../helpers/layers.js';
import { cleanupMounts, mountingPossible, testDir } from '../helpers/mounts.js';
import { mountAt } from '../../src/fuse/mounts.js';
import * as native from '../../src/layers/native.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** Runs a shell command as the unprivileged user; returns stdout, throws on failure. */
const asNobody = (script: string): string =>
  execFileSync('setpriv', [...NOBODY, 'sh', '-c', script], { encoding: 'utf8' });

/** What a user sees of a tree: names, types, modes, sizes and contents. */
const view = (dir: string): string =>
  asNobody(
    `cd ${dir} && find . -printf '%p %y %m %s\\n' | sort && find . -type f | sort | xargs cat`,
  );

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!condition()) throw new Error('timed out waiting for the rootless mount');
}

describe('rootless mounts', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('write the userxattr format, which the kernel mounts', async () => {
    const dir = testDir();
    chownSync(dir, 65534, 65534);
    const lower = writeLayer(join(dir, 'lower'), {
      a: 'a\n',
      'd/b': 'b\n',
      'd/c': 'c\n',
      'e/f': 'f\n',
    });
    execFileSync('chown', ['-R', '65534:65534', lower]);
    const [upper, mnt, kmnt] = ['upper', 'mnt', 'kmnt'].map((name) => join(dir, name));
    for (const d of [upper!, mnt!, kmnt!]) {
      mkdirSync(d);
      chownSync(d, 65534, 65534);
    }
    const fuseMode = statSync('/dev/fuse').mode & 0o777;
    chmodSync('/dev/fuse', 0o666);
    try {
      const daemon = spawn(
        'setpriv',
        [...NOBODY, process.execPath, CLI, '--lower', lower, '--upper', upper!, mnt!],
        {
          stdio: 'ignore',
        },
      );
      const exited = new Promise((resolve) => daemon.once('exit', resolve));
      await until(() => mountAt(mnt!)?.fstype === 'fuse.unionmount');
      asNobody(`cd ${mnt} && echo more >> a && rm d/b && rm -r e && mkdir e && echo g > e/g`);
      const rename = spawnSync(
        'setpriv',
        [...NOBODY, process.execPath, '-e', `require('fs').renameSync('${mnt}/d', '${mnt}/d2')`],
        { encoding: 'utf8' },
      );
      expect(rename.stderr).toMatch(/EXDEV/); // rootless: no redirects, as the kernel's userxattr
      const seen = view(mnt!);
      asNobody(`fusermount -u ${mnt}`);
      await exited;

      const whiteout = statSync(join(upper!, 'd/b'));
      expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
      expect(
        native.getxattr(Buffer.from(join(upper!, 'e')), 'user.overlay.opaque')?.toString(),
      ).toBe('y');
      expect(
        native.listxattr(Buffer.from(join(upper!, 'e'))).filter((n) => n.startsWith('trusted.')),
      ).toEqual([]);

      const work = `${upper}.work`;
      // The kernel mount lives in the user namespace of that shell and goes with it.
      const kernel = asNobody(
        `unshare -Urm sh -c "mount -t overlay overlay -o userxattr,lowerdir=${lower},upperdir=${upper},workdir=${work} ${kmnt} && cd ${kmnt} && find . -printf '%p %y %m %s\\n' | sort && find . -type f | sort | xargs cat"`,
      );
      expect(kernel).toBe(seen);

      const asRoot = spawnSync(process.execPath, [CLI, '--lower', lower, '--upper', upper!, mnt!], {
        encoding: 'utf8',
      });
      expect(asRoot.status).toBe(2);
      expect(asRoot.stderr).toMatch(
        /written in the user\.overlay\.\* format; mount it with --userxattr/,
      );
    } finally {
      chmodSync('/dev/fuse', fuseMode);
    }
  });

  it.skipIf(possible !== true)('explain a /dev/fuse the user may not open, in one line', () => {
    const dir = testDir();
    chownSync(dir, 65534, 65534);
    const fuseMode = statSync('/dev/fuse').mode & 0o777;
    chmodSync('/dev/fuse', 0o600);
    try {
      const result = spawnSync(
        'setpriv',
        [...NOBODY, process.execPath, CLI, '--lower', dir, '/tmp'],
        {
          encoding: 'utf8',
        },
      );
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        'unionmount: /dev/fuse: permission denied (mode 0600); as root run chmod 0666 /dev/fuse (the stock Debian mode), or mount as root',
      );
    } finally {
      chmodSync('/dev/fuse', fuseMode);
    }
  });
});
