/** `unionmount diff --lower a:b --upper c`: the container layer's changes, docker diff style. */
import { Command } from 'commander';
import type { CliIO } from '../io.js';

export function diffCommand(io: CliIO): Command {
  return new Command('diff')
    .description("list the upper layer's changes as A|C|D /path lines (docker diff), sorted")
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .requiredOption('--upper <dir>', 'the upper (container) layer')
    .option('--json', 'print the changes as JSON')
    .option('--content', 'also print unified diffs of the text files added or changed')
    .action(async (flags: { lower: string; upper: string; json?: boolean; content?: boolean }) => {
      const { resolveLayers } = await import('../../tools/stack.js');
      const { diff } = await import('../../tools/diff.js');
      const { lowers, upper } = await resolveLayers(flags.lower, flags.upper);
      const changes = await diff(lowers, upper!);
      if (flags.json) io.out(JSON.stringify(changes, null, 2) + '\n');
      else io.out(changes.map((c) => `${c.kind} ${c.path}\n`).join(''));
      if (!flags.content) return;
      const { contentDiff } = await import('../../tools/content-diff.js');
      io.out(await contentDiff(lowers, upper!, changes));
    });
}
