/**
 * The layer picture of a lesson: one row per layer, top first, one column per path, each cell what
 * that layer holds there and whether the mount shows it (from `inspect`, the layer tools' verb),
 * and a last row with what the mount shows.
 */
import { inspect, type Inspection, type LayerRow } from '../tools/inspect.js';
import { DiskLayer } from '../layers/disk.js';
import { openStack, roleOf, walkLayer } from '../tools/stack.js';

export interface PictureStack {
  /** Top first. */
  lowers: string[];
  upper?: string;
}

export async function picture(
  stack: PictureStack,
  paths: string[],
): Promise<{ head: string[]; rows: string[][] }> {
  const opened = openStack(stack.lowers, stack.upper);
  const inspections: Inspection[] = [];
  for (const path of paths) inspections.push(await inspect(opened, path));
  const rows = opened.layers.map((layer, i) => [
    `${roleOf(layer)} ${layer.root}`,
    ...inspections.map((inspection) => cell(inspection.layers[i]!)),
  ]);
  rows.push(['mount shows', ...inspections.map(shown)]);
  return { head: ['LAYER', ...paths.map((p) => `/${p}`)], rows };
}

function cell(row: LayerRow): string {
  if (row.object === null) return '-';
  const { kind, size, opaque } = row.object;
  const what = [kind, size === undefined ? '' : bytes(size), opaque ? 'opaque' : '']
    .filter(Boolean)
    .join(' ');
  const state = row.state === 'visible' ? 'seen' : row.state === 'whiteout' ? '' : row.state;
  return state === '' ? what : `${what} (${state})`;
}

function shown(inspection: Inspection): string {
  if (inspection.kind !== null) return `${inspection.kind} from ${inspection.servedBy}`;
  return inspection.copyUp === 'whited out' ? 'nothing (deleted)' : 'nothing';
}

/** Sizes as people read them: 512 B, 16 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** The bytes of the regular files in a layer directory: what the layer adds to an image. */
export async function layerBytes(dir: string): Promise<number> {
  const layer = new DiskLayer(0, dir);
  let total = 0;
  for await (const rel of walkLayer(layer)) {
    const stat = await layer.lstat(rel);
    if (stat?.isFile()) total += Number(stat.size);
  }
  return total;
}
