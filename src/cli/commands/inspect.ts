/** `unionmount inspect --lower a:b [--upper c] PATH` or `inspect MOUNTPOINT PATH`. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import { OPTIONS_XATTR } from '../../fuse/adapter.js';
import { getxattr } from '../../layers/native.js';
import type { Inspection } from '../../tools/inspect.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

interface InspectFlags {
  lower?: string;
  upper?: string;
  json?: boolean;
  mount?: string;
}

export function inspectCommand(io: CliIO): Command {
  return new Command('inspect')
    .description('show which layer serves PATH and what the layers below it hold there')
    .argument('[mountpoint-or-path]', 'PATH, or the MOUNTPOINT of a live mount followed by PATH')
    .argument('[path]', 'PATH inside the live mount')
    .option('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .option('--upper <dir>', 'the upper layer')
    .option('--json', 'print the inspection as JSON')
    .option('--mount <mountpoint>', 'print the effective options of a live unionmount mount')
    .action(async (first: string | undefined, second: string | undefined, flags: InspectFlags) => {
      if (flags.mount !== undefined) return io.out(mountOptions(flags.mount, flags.json));
      if (first === undefined) throw new UnionmountError('inspect: give a PATH (see --help)', 2);
      const { lowers, upper, path } = await layersFor(first, second, flags);
      const { inspect } = await import('../../tools/inspect.js');
      const { openStack } = await import('../../tools/stack.js');
      const result = await inspect(openStack(lowers, upper), path);
      io.out(flags.json ? JSON.stringify(result, null, 2) + '\n' : render(result));
    });
}

async function layersFor(
  first: string,
  second: string | undefined,
  flags: InspectFlags,
): Promise<{ lowers: string[]; upper: string | undefined; path: string }> {
  if (second === undefined) {
    if (flags.lower === undefined)
      throw new UnionmountError('inspect: give --lower (and --upper), or a MOUNTPOINT and PATH', 2);
    const { resolveLayers } = await import('../../tools/stack.js');
    return { ...(await resolveLayers(flags.lower, flags.upper)), path: first };
  }
  const { liveMountAt } = await import('../../tools/live.js');
  const live = liveMountAt(first);
  if (live === undefined)
    throw new UnionmountError(`mountpoint ${first}: no unionmount or overlay mount there`, 2);
  return { lowers: live.lowers, upper: live.upper, path: second };
}

/** The options a live daemon reports for itself (a virtual xattr of the mount's root). */
function mountOptions(mountpoint: string, json = false): string {
  const value = getxattr(Buffer.from(resolve(mountpoint)), OPTIONS_XATTR);
  if (value === undefined)
    throw new UnionmountError(`mountpoint ${mountpoint}: not a unionmount mount`, 2);
  const options = JSON.parse(value.toString()) as Record<string, unknown>;
  if (json) return JSON.stringify(options, null, 2) + '\n';
  const rows = Object.entries(options).map(([key, v]) => [
    key,
    Array.isArray(v) ? v.join(':') : String(v),
  ]);
  return `${table(['option', 'value'], rows).trimEnd()}\n`;
}

function render(result: Inspection): string {
  const what =
    result.kind === null
      ? `not in the merged view (${result.copyUp})`
      : `${result.kind}, served by ${result.servedBy} (${result.copyUp})`;
  const lines = [`${result.path}: ${what}`];
  for (const marker of result.markers) lines.push(`  ${marker}`);
  const rows = result.layers.map((l) => [
    l.state === 'visible' ? '▶' : '',
    l.role,
    l.root,
    l.path === result.path ? '' : l.path,
    l.object === null ? '-' : describe(l.object),
    l.by === undefined ? l.state : `${l.state} by ${l.by}`,
  ]);
  lines.push(table(['', 'LAYER', 'ROOT', 'AT', 'OBJECT', 'STATE'], rows));
  if (result.entries !== undefined) {
    lines.push('', 'entries:');
    const entries = result.entries.map((e) => [
      e.name,
      e.kind,
      e.from,
      e.merged?.join(' + ') ?? '',
    ]);
    lines.push(table(['NAME', 'KIND', 'FROM', 'MERGED'], entries));
  }
  return lines.join('\n') + '\n';
}

function describe(object: NonNullable<Inspection['layers'][number]['object']>): string {
  const parts = [object.kind];
  if (object.size !== undefined) parts.push(`${object.size} B`);
  if (object.target !== undefined) parts.push(`-> ${object.target}`);
  if (object.opaque) parts.push('opaque');
  if (object.redirect !== undefined) parts.push(`redirect ${object.redirect}`);
  return parts.join(' ');
}
