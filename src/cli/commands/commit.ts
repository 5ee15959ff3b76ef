/** `unionmount commit --lower a:b --upper c NEWLAYER` and `--squash OUT`. */
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import type { CliIO } from '../io.js';
import { withProgress } from '../progress.js';

interface CommitFlags {
  lower: string;
  upper?: string;
  squash?: string;
}

export function commitCommand(io: CliIO): Command {
  return new Command('commit')
    .description('turn the upper layer into a new read-only layer (or flatten all with --squash)')
    .argument('[newlayer]', 'the new layer directory (must not exist, or be empty)')
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .option('--upper <dir>', 'the upper (container) layer')
    .option('--squash <out>', 'also flatten all layers into one plain tree at OUT')
    .addHelpText(
      'after',
      '\nExamples:\n  unionmount commit --lower a:b --upper c layer3   # then --lower layer3:a:b\n' +
        '  unionmount commit --lower a:b --upper c --squash flat\n',
    )
    .action(async (newLayer: string | undefined, flags: CommitFlags) => {
      if (newLayer === undefined && flags.squash === undefined)
        throw new UnionmountError('commit: give NEWLAYER, --squash OUT, or both', 2);
      const { resolveLayers } = await import('../../tools/stack.js');
      const { commit, squash } = await import('../../tools/commit.js');
      const { lowers, upper } = await resolveLayers(flags.lower, flags.upper);
      if (newLayer !== undefined) {
        if (upper === undefined)
          throw new UnionmountError('commit: NEWLAYER needs --upper (the layer to commit)', 2);
        await withProgress('commit', (update) =>
          commit(lowers, upper, newLayer, { onProgress: update }),
        );
        io.out(
          `committed ${flags.upper} as ${newLayer}: mount it with --lower ${[newLayer, ...flags.lower.split(':')].join(':')}\n`,
        );
      }
      if (flags.squash !== undefined) {
        const out = flags.squash;
        await withProgress('squash', (update) =>
          squash(lowers, upper, out, { onProgress: update }),
        );
        io.out(
          `squashed ${upper === undefined ? '' : `${flags.upper} over `}${flags.lower} into ${out}\n`,
        );
      }
    });
}
