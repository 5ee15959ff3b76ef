/**
 * `df`: space per layer, docker system df style. Deleting or replacing a file in a later layer
 * does not make the image smaller: the bytes stay in the lower layer, shadowed (a layer above has
 * an object of the same name) or hidden (by a whiteout or an opaque directory above). For each
 * upper: its own bytes and the lower bytes its changes cover; lowers used by several uppers are
 * stored once (shared). Sizes are file and symlink lengths, a hard-linked file counted once.
 * Names are matched as they are (content reached only through a redirect counts as hidden).
 */
import type { DiskLayer } from '../layers/disk.js';
import { coverOf } from './inspect.js';
import { openStack, roleOf, type Stack, walkLayer } from './stack.js';

export interface LayerUsage {
  role: string;
  root: string;
  /** Objects other than directories and whiteouts. */
  files: number;
  bytes: number;
  whiteouts: number;
  /** Bytes of this layer that a layer above replaces (lowers: within the image). */
  shadowed: number;
  /** Bytes of this layer that whiteouts or opaque directories above remove from view. */
  hidden: number;
}

export interface UpperUsage extends LayerUsage {
  /** Lower bytes visible in the image that this upper's changes cover. */
  covers: { shadowed: number; hidden: number };
}

export interface DiskUsage {
  lowers: LayerUsage[];
  uppers: UpperUsage[];
  /** All lower bytes, and how many of them the image shows. */
  image: { bytes: number; visible: number };
  /** Lower bytes stored once for several uppers (0 with fewer than two), and bytes that saves. */
  shared: { bytes: number; uppers: number; saved: number };
}

interface StoredFile {
  layer: DiskLayer;
  rel: string;
  bytes: number;
}

export async function df(
  lowers: readonly string[],
  uppers: readonly string[] = [],
): Promise<DiskUsage> {
  const image = openStack(lowers);
  const lowerUsage: LayerUsage[] = [];
  const visible: StoredFile[] = [];
  for (const layer of image.lowers) {
    const { usage, files } = await scan(image, layer);
    lowerUsage.push(usage);
    for (const file of files) {
      const cover = await coverIn(image, file);
      if (cover === undefined) visible.push(file);
      else usage[cover] += file.bytes;
    }
  }
  const upperUsage: UpperUsage[] = [];
  for (const upper of uppers) upperUsage.push(await upperUsageOf(lowers, upper, visible));
  const bytes = sum(lowerUsage.map((u) => u.bytes));
  const sharing = uppers.length > 1 ? uppers.length : 0;
  return {
    lowers: lowerUsage,
    uppers: upperUsage,
    image: { bytes, visible: sum(visible.map((f) => f.bytes)) },
    shared: {
      bytes: sharing ? bytes : 0,
      uppers: sharing,
      saved: sharing ? (sharing - 1) * bytes : 0,
    },
  };
}

async function upperUsageOf(
  lowers: readonly string[],
  upper: string,
  visibleInImage: StoredFile[],
): Promise<UpperUsage> {
  const container = openStack(lowers, upper);
  const { usage } = await scan(container, container.upper!);
  const covers = { shadowed: 0, hidden: 0 };
  for (const file of visibleInImage) {
    // The same layer directories, read through the container's stack.
    const layer = container.layers[file.layer.index]!;
    const cover = await coverIn(container, { ...file, layer });
    if (cover !== undefined) covers[cover] += file.bytes;
  }
  return { ...usage, covers };
}

/** Whether a stored file is visible in `stack`, and if not, how it is covered. */
async function coverIn(stack: Stack, file: StoredFile): Promise<'shadowed' | 'hidden' | undefined> {
  const entry = await stack.merged.lookup.find(file.rel);
  const top = entry?.stack[0];
  if (top?.layer === file.layer && top.rel === file.rel) return undefined;
  return (await coverOf(stack, file.layer, file.rel, false))?.state ?? 'hidden';
}

async function scan(
  stack: Stack,
  layer: DiskLayer,
): Promise<{ usage: LayerUsage; files: StoredFile[] }> {
  const usage = {
    role: roleOf(layer),
    root: layer.root,
    files: 0,
    bytes: 0,
    whiteouts: 0,
    shadowed: 0,
    hidden: 0,
  };
  const files: StoredFile[] = [];
  const seen = new Set<bigint>();
  for await (const rel of walkLayer(layer)) {
    const stat = (await layer.lstat(rel))!;
    if (stat.isDirectory()) continue;
    if (stack.format.isWhiteout(stat)) {
      usage.whiteouts++;
      continue;
    }
    usage.files++;
    // A hard link's bytes are stored once; each of its names can still be covered.
    const bytes = seen.has(stat.ino) ? 0 : Number(stat.size);
    seen.add(stat.ino);
    usage.bytes += bytes;
    if (bytes > 0) files.push({ layer, rel, bytes });
  }
  return { usage, files };
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
