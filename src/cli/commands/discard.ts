/** `unionmount discard --upper c [--work w]`: empty the container layer. */
import { Command } from 'commander';
import { directory } from '../../config.js';
import type { CliIO } from '../io.js';

export function discardCommand(io: CliIO): Command {
  return new Command('discard')
    .description('empty the upper layer and its work directory (refused while mounted)')
    .requiredOption('--upper <dir>', 'the upper (container) layer')
    .option('--work <dir>', 'its work directory (default: <upper>.work)')
    .action(async (flags: { upper: string; work?: string }) => {
      const upper = await directory(flags.upper, 'upper layer');
      const work =
        flags.work === undefined ? undefined : await directory(flags.work, 'work directory');
      const { discard } = await import('../../tools/discard.js');
      const { objects, bytes } = await discard(upper, work);
      io.out(`discarded ${objects} objects (${bytes} bytes of files) from ${flags.upper}\n`);
    });
}
