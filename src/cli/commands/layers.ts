/** `cat` and `extract` (one layer's own object at a path) and `layers` (what each layer adds). */
import { closeSync, constants, existsSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Command } from 'commander';
import { ExitStatus, UnionmountError } from '../../errors.js';
import { WritableDiskLayer } from '../../layers/disk.js';
import type { LayersReport } from '../../tools/layers.js';
import type { Stack } from '../../tools/stack.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

interface LayerFlags {
  lower: string;
  upper?: string;
  layer: string;
}

const withLayers = (command: Command): Command =>
  command
    .requiredOption('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .option('--upper <dir>', 'the upper layer');

async function stackOf(flags: { lower: string; upper?: string }): Promise<Stack> {
  const { openStack, resolveLayers } = await import('../../tools/stack.js');
  const { lowers, upper } = await resolveLayers(flags.lower, flags.upper);
  return openStack(lowers, upper);
}

export function catCommand(io: CliIO): Command {
  return withLayers(new Command('cat'))
    .description('print a file as one layer holds it (also one a later layer deleted)')
    .argument('<path>', 'the path in the union, e.g. /etc/app.conf')
    .requiredOption('--layer <n>', 'upper, or N for the Nth lower (top first)')
    .action(async (path: string, flags: LayerFlags) => {
      const { layerObject, pickLayer } = await import('../../tools/layers.js');
      const stack = await stackOf(flags);
      const layer = pickLayer(stack, flags.layer);
      const { rel, stat } = await layerObject(stack, layer, path);
      if (!stat.isFile())
        throw new UnionmountError(`${path}: not a regular file in that layer (use extract)`, 2);
      const fd = await layer.open(rel, constants.O_RDONLY);
      try {
        io.out(readFileSync(fd).toString());
      } finally {
        closeSync(fd);
      }
    });
}

export function extractCommand(io: CliIO): Command {
  return withLayers(new Command('extract'))
    .description(
      'copy a path as one layer holds it to DEST, with its metadata (whiteouts left out)',
    )
    .argument('<path>', 'the path in the union')
    .argument('<dest>', 'where to put it (must not exist)')
    .requiredOption('--layer <n>', 'upper, or N for the Nth lower (top first)')
    .action(async (path: string, dest: string, flags: LayerFlags) => {
      const { layerObject, pickLayer } = await import('../../tools/layers.js');
      const { buildDirectory, TreeWriter } = await import('../../tools/copy.js');
      const { walkLayer } = await import('../../tools/stack.js');
      const stack = await stackOf(flags);
      const layer = pickLayer(stack, flags.layer);
      const { rel, stat } = await layerObject(stack, layer, path);
      const keep = (name: string): boolean => !stack.format.isPrivateXattr(name);
      if (!stat.isDirectory()) {
        if (existsSync(dest)) throw new UnionmountError(`destination ${dest}: exists`, 2);
        await new TreeWriter(new WritableDiskLayer(0, dirname(dest)), keep).copy(
          layer,
          rel,
          basename(dest),
        );
      } else {
        await buildDirectory(dest, 'destination', [layer], async (staging) => {
          const writer = new TreeWriter(new WritableDiskLayer(0, staging), keep);
          await writer.copy(layer, rel, '');
          for await (const path of walkLayer(layer, rel)) {
            if (stack.format.isWhiteout((await layer.lstat(path))!)) continue;
            await writer.copy(layer, path, path.slice(rel === '' ? 0 : rel.length + 1));
          }
          writer.finish();
        });
      }
      io.out(
        `extracted ${path} from the ${flags.layer === 'upper' ? 'upper' : `lower ${flags.layer}`} layer to ${dest}\n`,
      );
    });
}

interface LayersFlags {
  lower: string;
  upper?: string;
  json?: boolean;
  ci?: boolean;
  lowestEfficiency: string;
  highestWastedBytes?: string;
}

export function layersCommand(io: CliIO): Command {
  return withLayers(new Command('layers'))
    .description("per layer: paths added, modified and removed, with bytes; the stack's efficiency")
    .option('--json', 'print the report as JSON')
    .option('--ci', 'fail (exit 1) when the stack wastes more than the thresholds allow')
    .option('--lowest-efficiency <share>', 'with --ci: the lowest efficiency allowed (0..1)', '0.9')
    .option('--highest-wasted-bytes <bytes>', 'with --ci: the most wasted bytes allowed')
    .action(async (flags: LayersFlags) => {
      const { resolveLayers } = await import('../../tools/stack.js');
      const { layersReport } = await import('../../tools/layers.js');
      const { lowers, upper } = await resolveLayers(flags.lower, flags.upper);
      const report = await layersReport(lowers, upper);
      io.out(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
      if (flags.ci && !passes(report, flags, io)) throw new ExitStatus(1);
    });
}

function formatReport(report: LayersReport): string {
  let text = '';
  for (const layer of report.layers) {
    const sum = (list: { bytes: number }[]): number => list.reduce((s, p) => s + p.bytes, 0);
    text += `${layer.layer} (${layer.root}): ${layer.added.length} added (${sum(layer.added)} bytes), `;
    text += `${layer.modified.length} modified (${sum(layer.modified)} bytes), `;
    text += `${layer.removed.length} removed (${layer.hiddenBytes} bytes hidden)\n`;
    const rows = [
      ...layer.added.map((p) => ['A', p.path, String(p.bytes)]),
      ...layer.modified.map((p) => ['M', p.path, String(p.bytes)]),
      ...layer.removed.map((p) => ['D', p.path, String(p.bytes)]),
    ];
    if (rows.length > 0) text += table([], rows).replace(/^/gm, '  ') + '\n';
  }
  const percent = (report.efficiency * 100).toFixed(1);
  return (
    text +
    `efficiency ${percent}%: ${report.visibleBytes} of ${report.totalBytes} bytes visible, ${report.wastedBytes} wasted\n`
  );
}

function passes(report: LayersReport, flags: LayersFlags, io: CliIO): boolean {
  const lowest = Number(flags.lowestEfficiency);
  const highest =
    flags.highestWastedBytes === undefined ? Infinity : Number(flags.highestWastedBytes);
  if (!(lowest >= 0 && lowest <= 1))
    throw new UnionmountError(
      `--lowest-efficiency ${flags.lowestEfficiency}: not a share from 0 to 1`,
      2,
    );
  if (!(highest >= 0))
    throw new UnionmountError(
      `--highest-wasted-bytes ${flags.highestWastedBytes}: not a byte count`,
      2,
    );
  const efficient = report.efficiency >= lowest;
  const lean = report.wastedBytes <= highest;
  io.out(
    `${efficient ? 'PASS' : 'FAIL'} efficiency ${report.efficiency.toFixed(4)} (lowest allowed ${lowest})\n`,
  );
  if (highest !== Infinity)
    io.out(
      `${lean ? 'PASS' : 'FAIL'} wasted bytes ${report.wastedBytes} (highest allowed ${highest})\n`,
    );
  return efficient && lean;
}
