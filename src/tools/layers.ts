/**
 * Looking inside layers, as dive does for images: one layer's own object at a path (also one a
 * later layer deleted: the bytes are still in the image), and per layer what it added, modified
 * and removed, with the bytes it wastes: copies of objects a later layer replaced, and objects a
 * later layer's whiteouts or opaque directories hide. Efficiency is the share of all layer bytes
 * that the merged view shows.
 */
import { type Entry, isDir } from '../core/entry.js';
import { join, nameOf, parentOf } from '../core/paths.js';
import { UnionmountError } from '../errors.js';
import type { OverlayFormat } from '../core/format.js';
import type { DiskLayer } from '../layers/disk.js';
import type { Stat } from '../layers/layer.js';
import { display, kindOf, openStack, roleOf, type Stack, walkLayer, walkMerged } from './stack.js';

/** `--layer N`: 'upper' or 0 is the upper, N from 1 the lowers top first (as inspect counts). */
export function pickLayer(stack: Stack, spec: string): DiskLayer {
  const index = spec === 'upper' ? 0 : Number(spec);
  const layer = stack.layers.find((l) => l.index === index);
  if (!Number.isInteger(index) || layer === undefined)
    throw new UnionmountError(
      `--layer ${spec}: no such layer (upper, or 1 to ${stack.lowers.length})`,
      2,
    );
  return layer;
}

/** The layer's own object at `path` ('/a/b'), or a usage error saying why there is none. */
export async function layerObject(
  stack: Stack,
  layer: DiskLayer,
  path: string,
): Promise<{ rel: string; stat: Stat }> {
  const rel = Buffer.from(path.replace(/^\/+|\/+$/g, '')).toString('latin1');
  let stat: Stat | undefined;
  try {
    stat = await layer.lstat(rel);
  } catch {
    stat = undefined; // a parent is not a directory in this layer
  }
  if (stat === undefined)
    throw new UnionmountError(`${path}: not in the ${roleOf(layer)} layer (${layer.root})`, 2);
  if (stack.format.isWhiteout(stat))
    throw new UnionmountError(
      `${path}: a whiteout in the ${roleOf(layer)} layer (deleted there)`,
      2,
    );
  return { rel, stat };
}

export interface PathBytes {
  path: string;
  bytes: number;
}

export interface LayerReport {
  layer: string;
  root: string;
  added: PathBytes[];
  modified: PathBytes[];
  removed: PathBytes[];
  /** Bytes of the objects below that this layer's copies replace. */
  duplicatedBytes: number;
  /** Bytes of the objects below that this layer's whiteouts and opaque directories hide. */
  hiddenBytes: number;
}

export interface LayersReport {
  /** Bottom layer first, as the image was built. */
  layers: LayerReport[];
  totalBytes: number;
  visibleBytes: number;
  wastedBytes: number;
  /** visibleBytes / totalBytes (1 with no bytes at all). */
  efficiency: number;
}

export async function layersReport(lowers: string[], upper?: string): Promise<LayersReport> {
  const all = openStack(lowers, upper);
  // Every layer read as a lower: the merged view from one layer down.
  const dirs = upper === undefined ? lowers : [upper, ...lowers];
  const reports: LayerReport[] = [];
  let totalBytes = 0;
  for (const [i, layer] of all.layers.entries()) {
    const report = await reportLayer(openStack(dirs.slice(i)), openStack(dirs.slice(i + 1)));
    report.layer = roleOf(layer);
    reports.unshift(report);
    totalBytes += await layerBytes(all.format, layer);
  }
  const visibleBytes = await mergedBytes(all);
  return {
    layers: reports,
    totalBytes,
    visibleBytes,
    wastedBytes: totalBytes - visibleBytes,
    efficiency: totalBytes === 0 ? 1 : visibleBytes / totalBytes,
  };
}

/** One layer (the top of `withLayer`) against the merged view below it. */
async function reportLayer(withLayer: Stack, below: Stack): Promise<LayerReport> {
  const layer = withLayer.layers[0]!;
  const report: LayerReport = {
    layer: '',
    root: layer.root,
    added: [],
    modified: [],
    removed: [],
    duplicatedBytes: 0,
    hiddenBytes: 0,
  };
  const moved = new Set<string>();
  for await (const rel of walkLayer(layer)) {
    const stat = (await layer.lstat(rel))!;
    const belowRel = await belowPath(withLayer, rel);
    const hidden = belowRel === undefined ? undefined : await below.merged.lookup.find(belowRel);
    if (stat.isDirectory()) {
      const redirect = withLayer.format.redirectOf(layer, rel);
      const origin = (await withLayer.merged.lookup.find(rel))?.stack[1]?.rel;
      if (redirect !== undefined && origin !== undefined) moved.add(display(origin));
      if (hidden && withLayer.format.isOpaque(layer, rel) && isDir(hidden)) {
        report.removed.push({ path: display(rel) + '/', bytes: await treeBytes(below, hidden) });
      }
      continue;
    }
    if (withLayer.format.isWhiteout(stat)) {
      if (hidden !== undefined)
        report.removed.push({ path: display(belowRel!), bytes: await treeBytes(below, hidden) });
      continue;
    }
    const bytes = Number(stat.size);
    if (hidden === undefined) report.added.push({ path: display(rel), bytes });
    else {
      report.modified.push({ path: display(rel), bytes });
      report.duplicatedBytes += await treeBytes(below, hidden);
    }
  }
  // A whiteout sorts before the redirected directory that moved its name away: drop it now.
  report.removed = report.removed.filter((r) => !moved.has(r.path));
  report.hiddenBytes = report.removed.reduce((sum, r) => sum + r.bytes, 0);
  return report;
}

/** Where the merged view below finds `rel`'s name: through the parent's lower directory. */
async function belowPath(withLayer: Stack, rel: string): Promise<string | undefined> {
  const parent = await withLayer.merged.lookup.find(parentOf(rel));
  const lower = parent?.stack[1];
  if (lower === undefined) return undefined;
  return join(lower.rel, nameOf(rel));
}

/** Bytes of the non-directories at and below a merged entry, each counted once. */
async function treeBytes(stack: Stack, entry: Entry): Promise<number> {
  if (!isDir(entry)) return objectBytes(entry);
  let bytes = 0;
  for await (const child of walkMerged(stack, entry))
    if (!isDir(child)) bytes += await objectBytes(child);
  return bytes;
}

async function objectBytes(entry: Entry): Promise<number> {
  const { layer, rel } = entry.stack[0]!;
  return Number((await layer.lstat(rel))?.size ?? 0n);
}

/** Bytes of a layer's files and symlinks (a hard-linked file once). */
async function layerBytes(format: OverlayFormat, layer: DiskLayer): Promise<number> {
  const seen = new Set<bigint>();
  let bytes = 0;
  for await (const rel of walkLayer(layer)) {
    const stat = (await layer.lstat(rel))!;
    if (stat.isDirectory() || kindOf(format, stat) === 'whiteout') continue;
    if (seen.has(stat.ino)) continue;
    seen.add(stat.ino);
    bytes += Number(stat.size);
  }
  return bytes;
}

/** Bytes the merged view shows, an object reached by two names (hard links) once. */
async function mergedBytes(stack: Stack): Promise<number> {
  const seen = new Set<string>();
  let bytes = 0;
  const root = (await stack.merged.lookup.find(''))!;
  for await (const entry of walkMerged(stack, root)) {
    if (isDir(entry)) continue;
    const { layer, rel } = entry.stack[0]!;
    const stat = (await layer.lstat(rel))!;
    const key = `${layer.index}:${stat.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    bytes += Number(stat.size);
  }
  return bytes;
}
