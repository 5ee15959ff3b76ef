/** `unionmount umount MOUNTPOINT`: unmount, or clear a stale mount a dead daemon left. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import { clearStaleMount, isStale, mountAt, unmount } from '../../fuse/mounts.js';
import { busyOr } from '../io.js';

export function umountCommand(): Command {
  return new Command('umount')
    .alias('unmount')
    .description('unmount a unionmount mount (also clears a stale one)')
    .argument('<mountpoint>')
    .option('--lazy', 'detach now even if files are open')
    .action(async (mountpoint: string, flags: { lazy?: boolean }) => {
      const absolute = resolve(mountpoint);
      if (mountAt(absolute)?.fstype !== 'fuse.unionmount')
        throw new UnionmountError(`${mountpoint}: not a unionmount mount`, 2);
      if (await isStale(absolute)) await clearStaleMount(absolute);
      else
        await unmount(absolute, { lazy: flags.lazy }).catch((err: Error) => {
          throw new UnionmountError(`${mountpoint}: ${busyOr(err)}`);
        });
    });
}
