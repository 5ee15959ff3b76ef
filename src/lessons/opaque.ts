/** Lesson 6: `rm -rf dir && mkdir dir` makes an opaque directory that hides everything below. */
import { readdirSync } from 'node:fs';
import { DiskLayer } from '../layers/disk.js';
import { OverlayFormat } from '../core/format.js';
import type { Lesson } from './kit.js';

const CACHE = { 'cache/a.o': 'a', 'cache/b.o': 'b', 'cache/sub/c.o': 'c' };

export const opaque: Lesson = {
  name: 'opaque',
  title: 'Opaque directories',
  claim:
    '`rm -rf dir && mkdir dir` leaves one opaque directory that hides everything the lower had ' +
    'there, where emptying the directory leaves a whiteout per entry',
  async run(kit) {
    const format = new OverlayFormat();
    kit.step('An image layer with a cache directory');
    const base = kit.layer('base', CACHE);
    await kit.sh('find base/cache | sort');

    kit.step('Container A empties the directory: rm -rf mnt-a/cache/*');
    const a = await kit.mount('mnt-a', [base], kit.path('upper-a'));
    await kit.sh('rm -rf mnt-a/cache/*');
    await kit.sh("find upper-a -printf '%y %p\\n' | sort -k2   # c = a whiteout");

    kit.step('Container B replaces it: rm -rf mnt-b/cache && mkdir mnt-b/cache');
    const b = await kit.mount('mnt-b', [base], kit.path('upper-b'));
    await kit.sh('rm -rf mnt-b/cache && mkdir mnt-b/cache && echo new > mnt-b/cache/fresh');
    await kit.sh("find upper-b -printf '%y %p\\n' | sort -k2");
    await kit.sh('getfattr -n trusted.overlay.opaque upper-b/cache 2>/dev/null || true');
    await kit.sh('ls -A mnt-b/cache');
    await kit.picture({ lowers: [base], upper: b.upper }, ['cache', 'cache/a.o', 'cache/fresh']);
    const merged = readdirSync(kit.path('mnt-b/cache'));
    await a.unmount();
    await b.unmount();

    kit.step('Check');
    const upperA = new DiskLayer(0, a.upper);
    const upperB = new DiskLayer(0, b.upper);
    const whiteoutsA = [];
    for (const { name } of await upperA.readdir('cache')) {
      const stat = await upperA.lstat(`cache/${name}`);
      if (stat && format.isWhiteout(stat)) whiteoutsA.push(name);
    }
    kit.check(
      'emptying the directory left one whiteout per entry and no opaque marker',
      whiteoutsA.sort().join(' ') === 'a.o b.o sub' && !format.isOpaque(upperA, 'cache'),
      whiteoutsA.join(' '),
    );
    kit.check(
      'rm -rf && mkdir left an opaque directory holding only the new file',
      format.isOpaque(upperB, 'cache') &&
        (await upperB.readdir('cache')).map((e) => e.name).join(' ') === 'fresh' &&
        b.events.some((e) => e.type === 'opaque' && e.path === '/cache'),
    );
    kit.check('the mount showed only the new file', merged.join(' ') === 'fresh');
    kit.check(
      'the lower layer still has its files',
      readdirSync(kit.path('base/cache')).sort().join(' ') === 'a.o b.o sub',
    );
  },
};
