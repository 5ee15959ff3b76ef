/** `unionmount [mount] --lower a:b --upper c MOUNTPOINT`: mount and serve in the foreground. */
import { closeSync, writeFileSync, writeSync } from 'node:fs';
import type { RedirectDir } from '../../core/overlay.js';
import { Command, Option } from 'commander';
import { resolveConfig, splitLowers } from '../../config.js';
import { serveUnion, type ServedUnion } from '../../daemon.js';
import { MountStats } from '../../fuse/stats.js';
import { READY_FD_ENV } from '../../spawn.js';
import { openTrace, TRACE_FORMATS, type TraceFormat } from '../../trace.js';
import { busyOr, type CliIO } from '../io.js';

interface MountFlags {
  lower: string;
  upper?: string;
  work?: string;
  ephemeral?: boolean;
  allowOther?: boolean;
  force?: boolean;
  cache: boolean;
  passthrough: boolean;
  redirectDir?: string;
  userxattr?: boolean;
  volatile?: boolean;
  trace?: string | true;
  traceFormat: TraceFormat;
  stats?: string;
}

export function mountCommand(io: CliIO): Command {
  return new Command('mount')
    .description('mount layers at MOUNTPOINT and serve it in the foreground until unmounted')
    .argument('<mountpoint>', 'an existing directory')
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":" (read-only)')
    .option('--upper <dir>', 'the writable layer (omit for a read-only union)')
    .option('--work <dir>', "scratch directory on the upper's filesystem (default: <upper>.work)")
    .option('--ephemeral', 'write to a temporary upper that is deleted at unmount')
    .option('--allow-other', 'let other users use the mount (with kernel permission checks)')
    .option('--force', 'clear a stale mount at MOUNTPOINT first')
    .option('--no-cache', 'no caching of names, file data and stats (layers changed elsewhere)')
    .option('--no-passthrough', 'every read and write of an open file is a FUSE request')
    .option('--userxattr', "the kernel's userxattr format (user.overlay.*) even as root")
    .option('--volatile', "the kernel's volatile: no syncs; the upper is marked never to be reused")
    .option(
      '--redirect-dir <mode>',
      'renaming directories with lower content: on (redirect xattr; the default as root), ' +
        'follow or off (EXDEV; the default rootless), nofollow',
    )
    .addOption(
      new Option(
        '--trace [file]',
        'one line per copy-up, whiteout, opaque dir, redirect, create, delete: to stderr, ' +
          "FILE or '-' (stdout); before MOUNTPOINT, or as --trace=FILE",
      ),
    )
    .addOption(
      new Option('--trace-format <format>', 'trace lines: human, or json (JSON lines)')
        .choices(TRACE_FORMATS)
        .default('human'),
    )
    .option(
      '--stats <file>',
      'time FUSE requests by op, count copy-ups and cache hits; written to FILE at unmount ' +
        'and on SIGUSR1',
    )
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
        passthrough: flags.passthrough,
        redirectDir: flags.redirectDir as RedirectDir | undefined,
        userxattr: flags.userxattr,
        volatile: flags.volatile,
      });
      // Signals are caught from the start: one that arrives while mounting unmounts right after.
      const trace = flags.trace ? openTrace(flags.trace, flags.traceFormat, io) : undefined;
      const signals = new SignalledUnmount(mountpoint, io);
      const stats = flags.stats === undefined ? undefined : statsFile(flags.stats);
      const union = await serveUnion(config, {
        onEvent: trace?.write,
        log: (message) => io.err(`unionmount: ${message}\n`),
        stats: stats?.stats,
      });
      io.err(
        `unionmount: mounted at ${mountpoint} (writes go to ${union.upper ?? 'nowhere: read-only'})\n`,
      );
      if (process.geteuid?.() !== 0) {
        io.err(
          'unionmount: rootless: overlay xattrs under user.overlay.* (kernel: -o userxattr)\n',
        );
      }
      signals.attach(union);
      tellReady();
      await union.closed;
      trace?.close();
      stats?.write();
    });
}

/** Stats written to `file` on SIGUSR1 and once the mount is gone. */
function statsFile(file: string): { stats: MountStats; write: () => void } {
  const stats = new MountStats();
  const write = (): void => writeFileSync(file, stats.report());
  process.on('SIGUSR1', write);
  return { stats, write };
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
