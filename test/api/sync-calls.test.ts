/**
 * A test process may call the mount synchronously for as long as it likes: the daemon's event
 * pipe to it (for events()) is written without blocking, so it cannot fill up and hang the mount.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupMounts, mountingPossible, unionInTestDir } from '../helpers/mounts.js';

describe('synchronous calls on a mount from the library API', () => {
  const possible = mountingPossible();
  afterEach(cleanupMounts);

  it.skipIf(possible !== true)('thousands of traced creates never block the daemon', async () => {
    const { dir, mounted } = await unionInTestDir();
    // Each create is traced; 2000 long lines are far more than a pipe holds (64 KiB).
    for (let i = 0; i < 2000; i++)
      fs.writeFileSync(join(dir, 'mnt', `${'n'.repeat(200)}-${i}`), '');
    expect(fs.readdirSync(join(dir, 'upper'))).toHaveLength(2000);
    await mounted.unmount();
  });
});
