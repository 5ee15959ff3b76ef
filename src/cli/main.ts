#!/usr/bin/env node
/**
 * The unionmount command: a thin layer of commander over the programmatic API. Every failure is
 * one line on stderr (`unionmount: <path>: <problem>`) and a non-zero exit code:
 * 1 the operation failed, 2 bad usage or bad input (nothing was changed).
 */
import { closeSync, readFileSync, writeSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { resolveConfig, splitLowers } from '../config.js';
import { serveUnion, type ServedUnion } from '../daemon.js';
import { UnionmountError } from '../errors.js';
import { isMain } from './is-main.js';
import { clearStaleMount, isFuse, isStale, mountAt, unmount } from '../fuse/mounts.js';
import { READY_FD_ENV } from '../spawn.js';
import { formatEvent } from '../trace.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

interface MountFlags {
  lower: string;
  upper?: string;
  work?: string;
  ephemeral?: boolean;
  allowOther?: boolean;
  force?: boolean;
  cache: boolean;
  trace?: boolean;
}

export function buildProgram(io: CliIO = defaultIO): Command {
  const program = new Command('unionmount')
    .description('Mount a union of directory layers with kernel overlayfs semantics, through FUSE.')
    .version(packageJson.version)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program
    .command('mount', { isDefault: true })
    .description('mount layers at MOUNTPOINT and serve it in the foreground until unmounted')
    .argument('<mountpoint>', 'an existing directory')
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":" (read-only)')
    .option('--upper <dir>', 'the writable layer (omit for a read-only union)')
    .option('--work <dir>', "scratch directory on the upper's filesystem (default: <upper>.work)")
    .option('--ephemeral', 'write to a temporary upper that is deleted at unmount')
    .option('--allow-other', 'let other users use the mount (with kernel permission checks)')
    .option('--force', 'clear a stale mount at MOUNTPOINT first')
    .option('--no-cache', 'no kernel caching of names and attributes (layers changed elsewhere)')
    .addOption(new Option('--trace', 'print every copy-up, whiteout and opaque directory'))
    .addHelpText(
      'after',
      '\nExample:\n  unionmount --lower image/layer2:image/layer1 --upper container /mnt\n',
    )
    .action(async (mountpoint: string, flags: MountFlags) => {
      const config = await resolveConfig({
        lowers: splitLowers(flags.lower),
        upper: flags.upper,
        work: flags.work,
        mountpoint,
        ephemeral: flags.ephemeral,
        allowOther: flags.allowOther,
        force: flags.force,
        cache: flags.cache,
      });
      // Signals are caught from the start: one that arrives while mounting unmounts right after.
      const signals = new SignalledUnmount(mountpoint, io);
      const union = await serveUnion(config, {
        onEvent: flags.trace ? (event) => io.err(`${formatEvent(event)}\n`) : undefined,
        log: (message) => io.err(`unionmount: ${message}\n`),
      });
      io.err(
        `unionmount: mounted at ${mountpoint} (writes go to ${union.upper ?? 'nowhere: read-only'})\n`,
      );
      signals.attach(union);
      tellReady();
      await union.closed;
    });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a unionmount mount (also clears a stale one)')
    .argument('<mountpoint>')
    .option('--lazy', 'detach now even if files are open')
    .action(async (mountpoint: string, flags: { lazy?: boolean }) => {
      const path = mountpoint.replace(/(.)\/+$/, '$1');
      const absolute = (await import('node:path')).resolve(path);
      const mount = mountAt(absolute);
      if (mount === undefined || !isFuse(mount))
        throw new UnionmountError(`${mountpoint}: not a unionmount mount`, 2);
      if (await isStale(absolute)) await clearStaleMount(absolute);
      else
        await unmount(absolute, { lazy: flags.lazy }).catch((err: Error) => {
          throw new UnionmountError(`${mountpoint}: ${busyOr(err)}`);
        });
    });

  return program;
}

function busyOr(err: Error): string {
  return /busy/i.test(err.message)
    ? 'busy: files are open on the mount (close them, or use --lazy)'
    : err.message.trim().split('\n').at(-1)!;
}

/** SIGINT, SIGTERM, SIGHUP: unmount; when busy say so and keep serving, detach on a second signal. */
class SignalledUnmount {
  private union: ServedUnion | undefined;
  private signals = 0;

  constructor(
    private readonly mountpoint: string,
    private readonly io: CliIO,
  ) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        this.signals++;
        this.unmount();
      });
    }
  }

  attach(union: ServedUnion): void {
    this.union = union;
    if (this.signals > 0) this.unmount();
  }

  private unmount(): void {
    if (this.union === undefined) return;
    this.union.unmount({ lazy: this.signals > 1 }).catch((err: Error) => {
      this.io.err(
        `unionmount: ${this.mountpoint}: ${busyOr(err)}; still serving (signal again to detach lazily)\n`,
      );
    });
  }
}

/** Tells the process that started us (spawn.ts) that the mount is ready. */
function tellReady(): void {
  const fd = Number(process.env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  writeSync(fd, 'ready\n');
  closeSync(fd);
}

/** Runs the CLI and returns the exit code. */
export async function run(argv: string[], io: CliIO = defaultIO): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 1 ? 2 : err.exitCode;
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
