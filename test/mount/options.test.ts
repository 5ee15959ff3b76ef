/** `unionmount inspect --mount` reports what a live mount runs with; the record stays hidden. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as native from '../../src/layers/native.js';
import { cleanupMounts, mountingPossible, testDir, union } from '../helpers/mounts.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

describe('effective options of a live mount', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('are printed by inspect --mount', async () => {
    const dir = testDir();
    for (const d of ['lower', 'upper', 'mnt']) fs.mkdirSync(join(dir, d));
    const mnt = join(dir, 'mnt');
    const mounted = await union({
      lowers: [join(dir, 'lower')],
      upper: join(dir, 'upper'),
      mountpoint: mnt,
      redirectDir: 'follow',
    });
    const result = spawnSync(process.execPath, [CLI, 'inspect', '--mount', mnt, '--json'], {
      encoding: 'utf8',
    });
    const options = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(options).toMatchObject({
      lowers: [join(dir, 'lower')],
      upper: join(dir, 'upper'),
      redirect_dir: 'follow',
      default_permissions: false,
      attr_timeout: 0,
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
});
