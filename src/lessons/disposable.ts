/** Lesson 1: the container layer is disposable; the image layers are never written. */
import { rmSync } from 'node:fs';
import { snapshot } from '../testing/tree.js';
import type { Lesson } from './kit.js';

const TRACKED = ['etc/motd', 'var/log/app.log', 'tmp/scratch'];

export const disposable: Lesson = {
  name: 'disposable',
  title: 'The container layer is disposable',
  claim:
    'writes in a container go to its upper layer only; discard it and they are gone, ' +
    'the image layers byte-identical',
  async run(kit) {
    kit.step('Build an image of two layers: base, and app on top');
    const base = kit.layer('base', {
      'etc/motd': 'Welcome to base\n',
      'var/log/app.log': 'app: installed\n',
      'tmp/': '',
    });
    const app = kit.layer('app', { 'app/run.sh': 'echo hello\n' });
    const image = [app, base];
    const before = image.map((layer) => snapshot(layer, { xattrs: ['trusted.', 'user.'] }));
    await kit.sh('find base app -type f | sort');

    kit.step('Run a container: mount the image under an empty upper, then write');
    const container = await kit.mount('mnt', image, kit.path('container'));
    await kit.sh(`echo 'app: started' >> mnt/var/log/app.log`);
    await kit.sh(`echo 'scratch data' > mnt/tmp/scratch`);
    await kit.sh('rm mnt/etc/motd');
    await kit.picture({ lowers: image, upper: container.upper }, TRACKED);
    await kit.sh(
      "find container -printf '%y %p\\n' | sort -k2   # c = a whiteout (char device 0/0)",
    );

    kit.step('Discard the container: unmount and delete its upper layer');
    await container.unmount();
    await kit.sh('rm -rf container container.work');
    const after = image.map((layer) => snapshot(layer, { xattrs: ['trusted.', 'user.'] }));

    kit.step('Run a fresh container on the same image');
    const fresh = await kit.mount('mnt', image, kit.path('container'));
    const log = await kit.sh('cat mnt/var/log/app.log');
    const motd = await kit.sh('cat mnt/etc/motd');
    await kit.picture({ lowers: image, upper: fresh.upper }, TRACKED);
    await fresh.unmount();
    rmSync(kit.path('container.work'), { recursive: true, force: true });

    kit.step('Check');
    kit.check(
      'the image layers are byte-identical after the container ran',
      JSON.stringify(before) === JSON.stringify(after),
    );
    kit.check(
      "the container's writes went to its upper: a copy-up, a new file and a whiteout",
      container.events.some((e) => e.type === 'copy-up' && e.path === '/var/log/app.log') &&
        container.events.some((e) => e.type === 'create' && e.path === '/tmp/scratch') &&
        container.events.some((e) => e.type === 'whiteout' && e.path === '/etc/motd'),
    );
    kit.check(
      'a fresh container sees the image as built',
      log === 'app: installed\n' && motd === 'Welcome to base\n',
    );
  },
};
