/**
 * SLOW (about a minute; needs the npm registry): the package as users get it. `npm pack`, then
 * `npm install` of the tarball into an empty project in a temporary directory, as a dependency
 * (so nothing of this tree is used): the CLI through npx, and examples/api.test.ts run there by
 * that project's own vitest, mounting through the installed package's API and comparing with
 * kernel overlayfs.
 */
import { execFileSync, spawnSync, type ExecFileSyncOptions } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupMounts, mountingPossible, mountsBelow, testDir } from '../helpers/mounts.js';

const repo = new URL('../..', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
};
const vitestVersion = (
  JSON.parse(readFileSync(join(repo, 'node_modules/vitest/package.json'), 'utf8')) as {
    version: string;
  }
).version;

const run = (cmd: string, args: string[], options: ExecFileSyncOptions = {}): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', ...options }) as string;

interface JsonReport {
  testResults: {
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
  }[];
}

/** Each test as `name: status`, with the first line of its failure: a failure reads as itself. */
function outcomes(output: string): string[] {
  const report = JSON.parse(output.slice(output.indexOf('{'))) as JsonReport;
  return report.testResults.flatMap((file) =>
    file.assertionResults.map(({ fullName, status, failureMessages }) =>
      [`${fullName}: ${status}`, ...failureMessages.map((m) => m.split('\n')[0])].join(' '),
    ),
  );
}

describe('the packed tarball installed as a dependency (slow)', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)(
    'installs, runs npx unionmount and mounts through its API',
    () => {
      const base = testDir();
      const app = join(base, 'app');
      mkdirSync(app);
      run('npm', ['pack', '--pack-destination', base, '--loglevel=error'], { cwd: repo });
      const tarball = join(base, `unionmount-${version}.tgz`);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'uses-unionmount', private: true, type: 'module' }),
      );
      const install = run(
        'npm',
        [
          'install',
          tarball,
          `vitest@${vitestVersion}`,
          '--no-audit',
          '--no-fund',
          '--foreground-scripts',
        ],
        { cwd: app },
      );
      // The binding ships built: the package's install script finds nothing to do.
      expect(install).toContain('build-binding: the shipped patched fuse-native loads');

      const npx = (...args: string[]): string =>
        run('npx', ['--no-install', 'unionmount', ...args], { cwd: app });
      expect(npx('--help')).toMatch(/^Usage: unionmount/);
      expect(npx('--version').trim()).toBe(version);

      copyFileSync(join(repo, 'examples/api.test.ts'), join(app, 'api.test.ts'));
      const report = spawnSync('npx', ['--no-install', 'vitest', 'run', '--reporter=json'], {
        cwd: app,
        encoding: 'utf8',
        // Every temporary directory of the run (layers, mountpoints) is made below `base`.
        env: { ...process.env, CI: 'true', TMPDIR: base },
      });
      expect(outcomes(report.stdout || report.stderr)).toEqual([
        'testing overlay behaviour with unionmount states layers in the kernel format and reads them back: passed',
        'testing overlay behaviour with unionmount mounts, writes through the union and unmounts with await using: passed',
        'testing overlay behaviour with unionmount behaves as kernel overlayfs: passed',
      ]);
      expect(mountsBelow(base)).toEqual([]);
    },
    300_000,
  );
});
