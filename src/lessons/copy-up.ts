/**
 * Lesson 3: copy-up copies the whole file, so its cost grows with the file; and why a build step
 * must clean up in the same layer that made the mess.
 */
import { statSync } from 'node:fs';
import { bytes, layerBytes } from './picture.js';
import type { Kit, Lesson } from './kit.js';

const MiB = 1 << 20;
const SIZES = [1, 16, 64];

export const copyUp: Lesson = {
  name: 'copy-up',
  title: 'Copy-up costs grow with the file',
  claim:
    'appending one byte to a lower file copies the whole file up; a cache removed in a later ' +
    'layer still weighs in the image',
  async run(kit) {
    kit.step(`An image layer with files of ${SIZES.join(', ')} MiB`);
    const spec = Object.fromEntries(SIZES.map((n) => [`f-${n}M`, Buffer.alloc(n * MiB, 'x')]));
    const base = kit.layer('base', spec);
    await kit.sh('ls -l base');

    kit.step('Append one byte to each, through a container');
    const container = await kit.mount('mnt', [base], kit.path('container'));
    for (const n of SIZES) await kit.sh(`printf '!' >> mnt/f-${n}M`);
    const rows = SIZES.map((n) => {
      const event = container.events.find((e) => e.path === `/f-${n}M`);
      const copied = event?.type === 'copy-up' ? event : undefined;
      const upper = statSync(kit.path('container', `f-${n}M`)).size;
      return { n, copied, upper };
    });
    kit.table(
      ['FILE', 'WRITTEN', 'COPIED UP', 'COPY-UP TIME', 'UPPER HOLDS'],
      rows.map(({ n, copied, upper }) => [
        `f-${n}M`,
        '1 B',
        copied ? bytes(copied.bytes) : 'no copy-up',
        copied ? `${copied.ms.toFixed(1)} ms` : '-',
        bytes(upper),
      ]),
    );
    await container.unmount();

    kit.step(
      "Two builds of the same app: 'RUN make && rm -r cache' against 'RUN make' then 'RUN rm -r cache'",
    );
    const make =
      'mkdir -p mnt/cache && head -c 16M /dev/zero > mnt/cache/objects && echo app > mnt/app';
    const split = await build(kit, 'split', [make, 'rm -r mnt/cache']);
    const single = await build(kit, 'single', [`${make} && rm -r mnt/cache`]);
    kit.table(
      ['IMAGE', 'LAYERS ON TOP OF BASE', 'BYTES ADDED'],
      [
        ['RUN make; RUN rm -r cache', split.length, bytes(sum(split))],
        ['RUN make && rm -r cache', single.length, bytes(sum(single))],
      ],
    );

    kit.step('Check');
    kit.check(
      'every copy-up copied the whole file, whatever was written',
      rows.every(({ n, copied, upper }) => copied?.bytes === n * MiB && upper === n * MiB + 1),
    );
    kit.check(
      'the cache removed in a later layer still weighs 16 MiB in the image',
      sum(split) >= 16 * MiB && sum(single) < MiB,
      `${bytes(sum(split))} against ${bytes(sum(single))}`,
    );
  },
};

/** Builds one layer per command on top of `base`; returns the bytes of each layer. */
async function build(kit: Kit, name: string, commands: string[]): Promise<number[]> {
  const layers: string[] = [];
  const sizes: number[] = [];
  for (const [i, command] of commands.entries()) {
    const layer = kit.path(`${name}-${i + 1}`);
    const mount = await kit.mount('mnt', [...layers, kit.path('base')], layer);
    await kit.sh(command);
    await mount.unmount();
    layers.unshift(layer);
    sizes.push(await layerBytes(layer));
  }
  return sizes;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
