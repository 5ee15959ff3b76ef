/** Lesson 2: deleting a file of a lower layer writes a whiteout; the image does not shrink. */
import { layerBytes, bytes } from './picture.js';
import type { Lesson } from './kit.js';

const MiB = 1 << 20;

export const deleting: Lesson = {
  name: 'deleting',
  title: 'Deleting does not shrink the image',
  claim:
    "deleting a lower layer's file writes a whiteout and keeps the lower's bytes; " +
    'deleting a file of the same layer frees them',
  async run(kit) {
    kit.step('An image layer with an 8 MiB file');
    const base = kit.layer('base', {
      'data/big.bin': Buffer.alloc(8 * MiB, 'x'),
      'data/small.txt': 'small\n',
    });
    await kit.sh('du -sh base');

    kit.step('In a container, delete the big file of the image layer');
    const container = await kit.mount('mnt', [base], kit.path('container'));
    await kit.sh('rm mnt/data/big.bin');
    await kit.sh('ls mnt/data');
    await kit.picture({ lowers: [base], upper: container.upper }, ['data/big.bin']);
    await kit.sh('du -sh base container');
    const baseAfter = await layerBytes(base);
    const upperAfterWhiteout = await layerBytes(container.upper);

    kit.step('Compare: create an 8 MiB file in the container layer, then delete it');
    await kit.sh('head -c 8M /dev/zero > mnt/data/temp.bin');
    const upperWithTemp = await layerBytes(container.upper);
    await kit.sh('du -sh container');
    await kit.sh('rm mnt/data/temp.bin');
    await kit.sh('du -sh container');
    const upperAfterDelete = await layerBytes(container.upper);
    kit.table(
      ['WHAT', 'IMAGE LAYER', 'CONTAINER LAYER'],
      [
        ['after rm of the image file', bytes(baseAfter), bytes(upperAfterWhiteout)],
        ['with temp.bin written', bytes(baseAfter), bytes(upperWithTemp)],
        ['after rm of temp.bin', bytes(baseAfter), bytes(upperAfterDelete)],
      ],
    );
    await container.unmount();

    kit.step('Check');
    kit.check(
      'the image layer still holds all its bytes after the delete',
      baseAfter === 8 * MiB + 6,
      bytes(baseAfter),
    );
    kit.check(
      'the delete wrote a whiteout, no data, to the container layer',
      container.events.some((e) => e.type === 'whiteout' && e.path === '/data/big.bin') &&
        upperAfterWhiteout === 0,
    );
    kit.check(
      'deleting a file of the container layer itself freed its bytes, with no whiteout',
      upperWithTemp === 8 * MiB &&
        upperAfterDelete === 0 &&
        !container.events.some((e) => e.type === 'whiteout' && e.path === '/data/temp.bin'),
    );
  },
};
