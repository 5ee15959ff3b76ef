/** `unionmount inspect --mount` reports what a live mount runs with; the record stays hidden. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as native from '../../src/layers/native.js';
import {
  cleanupMounts,
  mountingPossible,
  testDir,
  union,
  unionInTestDir,
} from '../helpers/mounts.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

describe('effective options of a live mount', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('are printed by inspect --mount', async () => {
    const { dir, mnt, mounted } = await unionInTestDir({ redirectDir: 'follow' });
    const result = spawnSync(process.execPath, [CLI, 'inspect', '--mount', mnt, '--json'], {
      encoding: 'utf8',
    });
    const options = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(options).toMatchObject({
      lowers: [join(dir, 'lower')],
      upper: join(dir, 'upper'),
      redirect_dir: 'follow',
      default_permissions: false,
      attr_timeout: 3600,
      entry_timeout: 3600,
    });
    expect(options.format).toMatch(/^trusted\.overlay\.\*/);
    expect(native.listxattr(Buffer.from(mnt))).not.toContain('user.unionmount.format');
    expect(
      native.getxattr(Buffer.from(join(dir, 'upper')), 'user.unionmount.format')?.toString(),
    ).toBe('trusted');
    await mounted.unmount();
    const after = spawnSync(process.execPath, [CLI, 'inspect', '--mount', mnt], {
      encoding: 'utf8',
    });
    expect(after.status).toBe(2);
    expect(after.stderr).toMatch(/not a unionmount mount/);
  });

  it.skipIf(possible !== true)(
    '--volatile and --userxattr write what the kernel expects',
    async () => {
      const dir = testDir();
      for (const d of ['lower/d', 'upper', 'mnt']) fs.mkdirSync(join(dir, d), { recursive: true });
      fs.writeFileSync(join(dir, 'lower/d/f'), 'f\n');
      const [lower, upper, mnt] = ['lower', 'upper', 'mnt'].map((d) => join(dir, d));
      const mounted = await union({
        lowers: [lower!],
        upper,
        mountpoint: mnt!,
        volatile: true,
        userxattr: true,
      });
      fs.rmSync(join(mnt!, 'd'), { recursive: true });
      fs.mkdirSync(join(mnt!, 'd'));
      await mounted.unmount();
      expect(
        native.getxattr(Buffer.from(join(upper!, 'd')), 'user.overlay.opaque')?.toString(),
      ).toBe('y');
      expect(fs.existsSync(join(`${upper}.work`, 'work/incompat/volatile'))).toBe(true);
      // Neither the kernel nor unionmount mounts an upper that was mounted volatile.
      const kernel = spawnSync('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `userxattr,lowerdir=${lower},upperdir=${upper},workdir=${upper}.work`,
        mnt!,
      ]);
      expect(kernel.status).not.toBe(0);
      const again = spawnSync(
        process.execPath,
        [CLI, '--userxattr', '--lower', lower!, '--upper', upper!, mnt!],
        { encoding: 'utf8' },
      );
      expect(again.status).toBe(2);
      expect(again.stderr).toMatch(/was mounted volatile/);
    },
  );

  it.skipIf(possible !== true)('--no-cache sees layers changed behind the mount', async () => {
    const { dir, mnt, mounted } = await unionInTestDir({ cache: false });
    expect(fs.existsSync(join(mnt, 'late'))).toBe(false);
    expect(fs.readdirSync(mnt)).toEqual([]);
    fs.writeFileSync(join(dir, 'lower', 'late'), 'added behind the mount\n');
    expect(fs.readFileSync(join(mnt, 'late'), 'utf8')).toBe('added behind the mount\n');
    expect(fs.readdirSync(mnt)).toEqual(['late']);
    await mounted.unmount();
  });
});
