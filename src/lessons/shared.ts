/** Lesson 4: several containers share the image layers, each writing only to its own upper. */
import { readFileSync } from 'node:fs';
import { snapshot } from '../testing/tree.js';
import { bytes, layerBytes } from './picture.js';
import type { Lesson, LessonMount } from './kit.js';

const MiB = 1 << 20;
const CONTAINERS = ['web1', 'web2', 'web3'];

export const shared: Lesson = {
  name: 'shared',
  title: 'Layers are shared',
  claim:
    'several containers on the same image layers, mounted at once, see the same image, ' +
    'write privately and cost only their own changes',
  async run(kit) {
    kit.step('One image: a 4 MiB runtime and a config file');
    const image = kit.layer('image', {
      'usr/lib/runtime.so': Buffer.alloc(4 * MiB, 'r'),
      'etc/hostname': 'image\n',
    });
    const before = snapshot(image);

    kit.step(`Start ${CONTAINERS.length} containers at once, each with its own upper`);
    const mounts: LessonMount[] = [];
    for (const name of CONTAINERS)
      mounts.push(await kit.mount(`${name}/mnt`, [image], kit.path(name, 'upper')));
    await kit.sh(`grep "$PWD/" /proc/mounts | cut -d' ' -f2,3`);

    kit.step('Each container writes its own hostname');
    for (const name of CONTAINERS) await kit.sh(`echo ${name} > ${name}/mnt/etc/hostname`);
    await kit.sh(`cat ${CONTAINERS.map((n) => `${n}/mnt/etc/hostname`).join(' ')}`);
    await kit.picture({ lowers: [image], upper: kit.path('web1', 'upper') }, [
      'etc/hostname',
      'usr/lib/runtime.so',
    ]);

    const seen = CONTAINERS.map((name) => readFileSync(kit.path(name, 'mnt/etc/hostname'), 'utf8'));
    const runtimes = CONTAINERS.map(
      (name) => readFileSync(kit.path(name, 'mnt/usr/lib/runtime.so')).length,
    );
    const costs = await Promise.all(CONTAINERS.map((name) => layerBytes(kit.path(name, 'upper'))));
    kit.table(
      ['CONTAINER', 'SEES /etc/hostname', 'SEES runtime.so', 'ITS OWN LAYER'],
      CONTAINERS.map((name, i) => [name, seen[i]!.trim(), bytes(runtimes[i]!), bytes(costs[i]!)]),
    );
    kit.print(`  image layer, stored once: ${bytes(await layerBytes(image))}`);
    for (const mount of mounts) await mount.unmount();

    kit.step('Check');
    kit.check(
      'each container sees its own write and not the others',
      seen.every((text, i) => text === `${CONTAINERS[i]}\n`),
    );
    kit.check(
      'every container sees the same 4 MiB runtime',
      runtimes.every((n) => n === 4 * MiB),
    );
    kit.check(
      'each container layer holds only its own change',
      costs.every((n, i) => n === CONTAINERS[i]!.length + 1),
    );
    kit.check(
      'the image layer is unchanged',
      JSON.stringify(snapshot(image)) === JSON.stringify(before),
    );
  },
};
