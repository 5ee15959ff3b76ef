/**
 * A layer stack read directly, with no mount: the core's Lookup and merged readdir over real
 * directories. The upper, when given, is just the top layer here: tools never write through it.
 */
import { constants } from 'node:fs';
import { directory, splitLowers } from '../config.js';
import { type Entry, isDir } from '../core/entry.js';
import { OverlayFormat } from '../core/format.js';
import { Overlay } from '../core/overlay.js';
import { join } from '../core/paths.js';
import { DiskLayer } from '../layers/disk.js';
import type { ReadableLayer, Stat } from '../layers/layer.js';

export interface Stack {
  /** Top first: the upper (index 0) when there is one, then the lowers (index 1...). */
  readonly layers: readonly DiskLayer[];
  readonly upper: DiskLayer | undefined;
  readonly lowers: readonly DiskLayer[];
  /** A read-only view of the merged tree. */
  readonly merged: Overlay;
  readonly format: OverlayFormat;
}

export function openStack(lowers: readonly string[], upper?: string): Stack {
  const format = new OverlayFormat();
  const lowerLayers = lowers.map((dir, i) => new DiskLayer(i + 1, dir));
  const upperLayer = upper === undefined ? undefined : new DiskLayer(0, upper);
  const layers = upperLayer ? [upperLayer, ...lowerLayers] : lowerLayers;
  return {
    layers,
    upper: upperLayer,
    lowers: lowerLayers,
    merged: new Overlay({ lowers: layers, format }),
    format,
  };
}

/** Real paths of `--lower a:b` and `--upper c`, or a usage error naming the bad one. */
export async function resolveLayers(
  lower: string | undefined,
  upper: string | undefined,
): Promise<{ lowers: string[]; upper: string | undefined }> {
  const lowers: string[] = [];
  for (const dir of lower === undefined ? [] : splitLowers(lower))
    lowers.push(await directory(dir, 'lower layer'));
  return { lowers, upper: upper === undefined ? undefined : await directory(upper, 'upper layer') };
}

/** 'upper' or 'lower N' (N from 1, top first), as the user counts layers. */
export const roleOf = (layer: ReadableLayer): string =>
  layer.index === 0 ? 'upper' : `lower ${layer.index}`;

/** A core path ('a/b', latin1 bytes) as users read it: '/a/b', decoded as UTF-8. */
export const display = (path: string): string => '/' + Buffer.from(path, 'latin1').toString();

/** Every merged path below `entry` (not itself), parents before children, in byte order. */
export async function* walkMerged(stack: Stack, entry: Entry): AsyncGenerator<Entry> {
  const children = await stack.merged.readdir(entry.path);
  children.sort((a, b) => compareBytes(a.path, b.path));
  for (const child of children) {
    yield child;
    if (isDir(child)) yield* walkMerged(stack, child);
  }
}

/** Every path in one layer below `rel`, parents first, in byte order (whiteouts included). */
export async function* walkLayer(layer: ReadableLayer, rel = ''): AsyncGenerator<string> {
  const names = (await layer.readdir(rel)).map((e) => e.name).sort(compareBytes);
  for (const name of names) {
    const path = join(rel, name);
    yield path;
    const stat = await layer.lstat(path);
    if (stat?.isDirectory()) yield* walkLayer(layer, path);
  }
}

export const compareBytes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const KINDS: Record<number, string> = {
  [constants.S_IFREG]: 'file',
  [constants.S_IFDIR]: 'dir',
  [constants.S_IFLNK]: 'symlink',
  [constants.S_IFCHR]: 'char',
  [constants.S_IFBLK]: 'block',
  [constants.S_IFIFO]: 'fifo',
  [constants.S_IFSOCK]: 'socket',
};

/** 'file', 'dir', 'symlink', ... or 'whiteout' for the overlay's own deletion marker. */
export function kindOf(format: OverlayFormat, stat: Stat): string {
  if (format.isWhiteout(stat)) return 'whiteout';
  return KINDS[Number(stat.mode) & constants.S_IFMT] ?? 'unknown';
}
