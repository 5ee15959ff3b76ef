#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The unionmount command: a thin layer of commander over the programmatic API, one file per
 * command in ./commands. Every failure is one line on stderr (`unionmount: <path>: <problem>`)
 * and a non-zero exit code: 1 the operation failed, 2 bad usage or bad input (nothing changed).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitStatus, UnionmountError } from '../errors.js';
import { mountCommand } from './commands/mount.js';
import { umountCommand } from './commands/umount.js';
import { completionCommand } from './commands/completion.js';
import { doctorCommand } from './commands/doctor.js';
import { lessonCommand } from './commands/lesson.js';
import { inspectCommand } from './commands/inspect.js';
import { diffCommand } from './commands/diff.js';
import { commitCommand } from './commands/commit.js';
import { discardCommand } from './commands/discard.js';
import { dfCommand } from './commands/df.js';
import { tryCommand } from './commands/try.js';
import { applyCommand } from './commands/apply.js';
import { catCommand, extractCommand, layersCommand } from './commands/layers.js';
import { exportCommand, importCommand } from './commands/oci.js';
import { defaultIO, type CliIO } from './io.js';
import { EXAMPLES } from './examples.js';
import { isMain } from './is-main.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

export function buildProgram(io: CliIO = defaultIO): Command {
  const program = new Command('unionmount')
    .description('Mount a union of directory layers with kernel overlayfs semantics, through FUSE.')
    .version(packageJson.version)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  program.addCommand(mountCommand(io), { isDefault: true });
  program.addCommand(umountCommand());
  program.addCommand(doctorCommand(io));
  program.addCommand(lessonCommand(io));
  program.addCommand(inspectCommand(io));
  program.addCommand(diffCommand(io));
  program.addCommand(commitCommand(io));
  program.addCommand(discardCommand(io));
  program.addCommand(dfCommand(io));
  program.addCommand(tryCommand(io));
  program.addCommand(applyCommand(io));
  program.addCommand(catCommand(io));
  program.addCommand(extractCommand(io));
  program.addCommand(layersCommand(io));
  program.addCommand(importCommand(io));
  program.addCommand(exportCommand(io));
  program.addCommand(completionCommand(io, () => program));
  // Subcommands inherit the program's output and error handling; each --help ends with examples.
  for (const command of program.commands) {
    command.configureOutput({ writeOut: io.out, writeErr: io.err }).exitOverride();
    const examples = EXAMPLES[command.name()];
    if (examples)
      command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}\n`).join('')}`);
  }
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function run(argv: string[], io: CliIO = defaultIO): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 1 ? 2 : err.exitCode;
    if (err instanceof ExitStatus) return err.status;
    if (err instanceof UnionmountError) {
      io.err(`unionmount: ${err.message}\n`);
      return err.exitCode;
    }
    io.err(`unionmount: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (isMain(import.meta.url)) {
  // Exit explicitly: once the mount is gone, the binding's FUSE thread has nothing left to serve.
  process.exit(await run(process.argv.slice(2)));
}
