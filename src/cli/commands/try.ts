/** `unionmount try [--dir DIR] [--keep SANDBOX] -- CMD ARGS...`: run CMD on a throw-away layer. */
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { directory } from '../../config.js';
import type { SizedChange } from '../../tools/try.js';
import { ExitStatus } from '../../errors.js';
import type { CliIO } from '../io.js';
import { refuseConflicts } from './apply.js';

interface TryFlags {
  dir?: string;
  keep?: string;
  inside?: string;
}

export function tryCommand(io: CliIO): Command {
  return new Command('try')
    .description(
      'run CMD with DIR seen through a fresh upper layer (private to CMD), show what it changed, then apply or discard',
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--dir <dir>', 'the directory CMD may change (default: the current directory)')
    .option('--keep <sandbox>', 'keep the upper layer there (its work directory beside it)')
    .addOption(new Option('--inside <json>').hideHelp())
    .addHelpText(
      'after',
      '\nExample:\n  unionmount try --dir project -- sh -c "make && make install"\n',
    )
    .action(async (argv: string[], flags: TryFlags) => {
      const { createSandbox, removeSandbox, runInNamespace, runInside, sizedChanges } =
        await import('../../tools/try.js');
      if (flags.inside !== undefined)
        return runInside(JSON.parse(flags.inside) as Parameters<typeof runInside>[0], argv);
      const dir = await directory(flags.dir ?? '.', 'directory');
      const sandbox = await createSandbox(dir, flags.keep);
      let status: number;
      try {
        status = await runInNamespace(dir, sandbox, argv);
      } catch (err) {
        await removeSandbox(sandbox);
        throw err;
      }
      const { pruneManifest, readManifest, writeManifest } = await import('../../tools/sandbox.js');
      const manifest = (await readManifest(sandbox.upper))!;
      await writeManifest(sandbox.upper, await pruneManifest(manifest, sandbox.upper));
      const changes = await sizedChanges(dir, sandbox.upper);
      io.out(formatChanges(changes));
      if (changes.length > 0 && (await confirm(io))) {
        try {
          const { applySteps, planApply } = await import('../../tools/apply.js');
          await refuseConflicts(sandbox.upper, dir, () => true, io);
          await applySteps(sandbox.upper, dir, await planApply(sandbox.upper, dir));
        } catch (err) {
          io.err(`unionmount: the sandbox stays at ${sandbox.upper}\n`);
          throw err;
        }
        io.out(`applied to ${dir}\n`);
      } else
        io.out(
          flags.keep ? `kept: unionmount apply --upper ${flags.keep} ${dir}\n` : 'discarded\n',
        );
      if (flags.keep === undefined) await removeSandbox(sandbox);
      if (status !== 0) throw new ExitStatus(status);
    });
}

/** `A /path  12 bytes` lines and a summary line. */
export function formatChanges(changes: SizedChange[]): string {
  if (changes.length === 0) return 'no changes\n';
  const width = Math.max(...changes.map((c) => c.path.length + (c.dir ? 1 : 0)));
  const lines = changes.map((c) => {
    const name = (c.path + (c.dir ? '/' : '')).padEnd(width);
    const size =
      c.kind === 'C' && c.before !== undefined && c.after !== undefined
        ? `${c.before} -> ${c.after} bytes`
        : (c.after ?? c.before) !== undefined
          ? `${c.after ?? c.before} bytes`
          : '';
    return `${c.kind} ${name}  ${size}`.trimEnd() + '\n';
  });
  const count = (kind: string): number => changes.filter((c) => c.kind === kind).length;
  return lines.join('') + `${count('A')} added, ${count('C')} changed, ${count('D')} deleted\n`;
}

/** Asks on a terminal only; anything but y/yes is no. */
async function confirm(io: CliIO): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) return false;
  io.out('apply these changes? [y/N] ');
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return /^\s*y(es)?\s*$/i.test(line);
  }
  return false;
}
