/** `unionmount apply --upper SANDBOX [--dry-run] [--only PATH...] TARGET`: merge a layer in. */
import { Command } from 'commander';
import { directory } from '../../config.js';
import { isWithin } from '../../core/paths.js';
import { UnionmountError } from '../../errors.js';
import type { CliIO } from '../io.js';

interface ApplyFlags {
  upper: string;
  dryRun?: boolean;
  only?: string[];
}

export function applyCommand(io: CliIO): Command {
  return new Command('apply')
    .description(
      "merge an upper layer's changes into TARGET (files copied with metadata, whiteouts deleted, redirects renamed)",
    )
    .argument('<target>', 'the live directory the upper was made over')
    .requiredOption('--upper <dir>', 'the upper layer (a sandbox kept by try --keep)')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--only <paths...>', 'apply only these paths (and what is below them)')
    .action(async (targetArg: string, flags: ApplyFlags) => {
      const { refuseIfMounted } = await import('../../tools/live.js');
      const { applySteps, describeStep, planApply } = await import('../../tools/apply.js');
      const upper = await directory(flags.upper, 'upper layer');
      const target = await directory(targetArg, 'target');
      refuseIfMounted(upper, 'applying it');
      const only = (flags.only ?? []).map(toRel);
      const selected = (rel: string): boolean =>
        only.length === 0 || only.some((path) => isWithin(rel, path));
      const steps = await planApply(upper, target, selected);
      await refuseConflicts(upper, target, selected, io);
      if (flags.dryRun) {
        io.out(steps.map((s) => describeStep(s) + '\n').join(''));
        return;
      }
      await applySteps(upper, target, steps);
      io.out(`applied ${steps.length} steps to ${targetArg}\n`);
    });
}

/** Lists the conflicting paths on stderr and refuses (exit 1, nothing applied). */
export async function refuseConflicts(
  upper: string,
  target: string,
  selected: (rel: string) => boolean,
  io: CliIO,
): Promise<void> {
  const { conflicts, readManifest } = await import('../../tools/sandbox.js');
  const { display } = await import('../../tools/stack.js');
  const manifest = await readManifest(upper);
  if (manifest === undefined) {
    io.err(
      `unionmount: ${upper}: no record of the target when the layer was made; conflicts not checked\n`,
    );
    return;
  }
  const found = await conflicts(manifest, upper, target, selected);
  if (found.length === 0) return;
  for (const rel of found) io.err(`conflict: ${display(rel)}\n`);
  throw new UnionmountError(
    `${target}: changed since the sandbox was made at ${found.length} paths it changed too; nothing applied`,
  );
}

/** '/a/b/' or 'a/b' as a core path 'a/b'. */
const toRel = (path: string): string =>
  Buffer.from(path.replace(/^\/+|\/+$/g, ''))
    .toString('latin1')
    .replace(/\/+/g, '/');
