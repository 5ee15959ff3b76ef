/** `unionmount import IMAGE DIR` and `unionmount export --upper c [--lower a:b] LAYER.tar`. */
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import type { CliIO } from '../io.js';
import { withProgress } from '../progress.js';

export function importCommand(io: CliIO): Command {
  return new Command('import')
    .description(
      'unpack a docker save tarball, OCI image layout or layer tarball into layer directories',
    )
    .argument('<image>', 'IMAGE.tar (docker save or OCI), an OCI layout directory, or a layer tar')
    .argument('<dir>', 'where the layer directories go (must not exist, or be empty)')
    .addHelpText('after', '\nPrints the --lower string that mounts the image (top layer first).\n')
    .action(async (image: string, dir: string) => {
      const { importImage } = await import('../../tools/oci.js');
      const imported = await withProgress('import', (update) =>
        importImage(image, dir, { onProgress: update }),
      );
      imported.layers.forEach((layer, i) => io.err(`${layer}: ${imported.diffIds[i]}\n`));
      io.out(`${imported.lower}\n`);
    });
}

export function exportCommand(io: CliIO): Command {
  return new Command('export')
    .description('write the upper layer as an OCI layer tarball and print its sha256 digest')
    .argument('<layer-tar>', 'the tarball to write')
    .requiredOption('--upper <dir>', 'the upper (container) layer')
    .option('--lower <dirs>', 'its lower layers, top first: decide which whiteouts mean something')
    .option('--mtime <time>', 'one mtime for every entry (ISO date or seconds since the epoch)')
    .action(async (out: string, flags: { upper: string; lower?: string; mtime?: string }) => {
      const { resolveLayers } = await import('../../tools/stack.js');
      const { exportLayer } = await import('../../tools/oci.js');
      const { lowers, upper } = await resolveLayers(flags.lower, flags.upper);
      const mtime = flags.mtime === undefined ? undefined : parseTime(flags.mtime);
      const layer = await withProgress('export', (update) =>
        exportLayer(lowers, upper!, out, { mtime, onProgress: update }),
      );
      io.out(`${layer.digest}\n`);
    });
}

function parseTime(value: string): Date {
  const date = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UnionmountError(`--mtime ${value}: not a date or a number of seconds`, 2);
  return date;
}
