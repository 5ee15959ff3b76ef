/** `unionmount df --lower a:b [--upper c ...]`: space per layer, docker system df style. */
import { Command } from 'commander';
import { directory } from '../../config.js';
import type { DiskUsage } from '../../tools/df.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

export function dfCommand(io: CliIO): Command {
  return new Command('df')
    .description('space per layer: size, bytes shadowed or hidden by layers above, bytes shared')
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .option('--upper <dir>', 'an upper layer over these lowers (repeat for several)', collect, [])
    .option('--json', 'print the usage as JSON (sizes in bytes)')
    .action(async (flags: { lower: string; upper: string[]; json?: boolean }) => {
      const { resolveLayers } = await import('../../tools/stack.js');
      const { df } = await import('../../tools/df.js');
      const { lowers } = await resolveLayers(flags.lower, undefined);
      const uppers: string[] = [];
      for (const upper of flags.upper) uppers.push(await directory(upper, 'upper layer'));
      const usage = await df(lowers, uppers);
      io.out(flags.json ? JSON.stringify(usage, null, 2) + '\n' : render(usage));
    });
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function render(usage: DiskUsage): string {
  const rows = [
    ...usage.uppers.map((u) => [
      u.role,
      u.root,
      String(u.files),
      String(u.whiteouts),
      bytes(u.bytes),
      '-',
      '-',
      `shadows ${bytes(u.covers.shadowed)}, hides ${bytes(u.covers.hidden)}`,
    ]),
    ...usage.lowers.map((l) => [
      l.role,
      l.root,
      String(l.files),
      String(l.whiteouts),
      bytes(l.bytes),
      bytes(l.shadowed),
      bytes(l.hidden),
      usage.shared.uppers > 1 ? `shared by ${usage.shared.uppers} uppers` : '',
    ]),
  ];
  const lines = [
    table(['LAYER', 'ROOT', 'FILES', 'WHITEOUTS', 'SIZE', 'SHADOWED', 'HIDDEN', 'NOTE'], rows),
    `image: ${bytes(usage.image.bytes)} stored in lowers, ${bytes(usage.image.visible)} visible`,
  ];
  if (usage.shared.uppers > 1)
    lines.push(
      `shared: ${bytes(usage.shared.bytes)} of lowers used by ${usage.shared.uppers} uppers (${bytes(usage.shared.saved)} saved)`,
    );
  return lines.join('\n') + '\n';
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Decimal units as docker prints them: 1.5 kB, 12 MB. */
export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}
