/**
 * A sandbox: an upper layer (and its work directory, `<upper>.work`) over a live directory, plus a
 * manifest of that directory's state when the sandbox was made. `apply` compares the directory
 * with the manifest at the paths the upper changed: a difference there is a conflict (someone
 * else changed what the sandbox changed too).
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { OverlayFormat } from '../core/format.js';
import { isWithin } from '../core/paths.js';
import { DiskLayer } from '../layers/disk.js';
import type { ReadableLayer, Stat } from '../layers/layer.js';
import { defaultWork } from './discard.js';
import { kindOf, walkLayer } from './stack.js';

const MANIFEST = 'try-manifest.json';

/** Core path → fingerprint of the object there (see fingerprint). */
export type Manifest = Map<string, string>;

/** What changes when the object's content, kind, mode or owner changes (not a directory's mtime). */
export function fingerprint(format: OverlayFormat, stat: Stat): string {
  const owner = `${(Number(stat.mode) & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
  if (stat.isDirectory()) return `dir ${owner}`;
  return `${kindOf(format, stat)} ${owner} ${stat.size} ${stat.mtimeNs} ${stat.rdev}`;
}

/** Every object below `dir` (not the root itself). */
export async function recordManifest(dir: string): Promise<Manifest> {
  const layer = new DiskLayer(1, dir);
  const format = new OverlayFormat();
  const manifest: Manifest = new Map();
  for await (const rel of walkLayer(layer)) {
    const stat = await layer.lstat(rel);
    if (stat !== undefined) manifest.set(rel, fingerprint(format, stat));
  }
  return manifest;
}

/**
 * Keeps what a conflict check reads: the paths the upper holds, and everything below its
 * whiteouts and opaque or redirected directories (which replace a whole subtree).
 */
export async function pruneManifest(manifest: Manifest, upper: string): Promise<Manifest> {
  const { paths, subtrees } = await upperPaths(upper);
  const kept: Manifest = new Map();
  for (const [rel, print] of manifest)
    if (paths.has(rel) || subtrees.some((tree) => isWithin(rel, tree))) kept.set(rel, print);
  return kept;
}

export async function writeManifest(upper: string, manifest: Manifest): Promise<void> {
  const file = join(defaultWork(upper), MANIFEST);
  await fsp.writeFile(file + '.tmp', JSON.stringify(Object.fromEntries(manifest)));
  await fsp.rename(file + '.tmp', file);
}

/** The manifest kept beside `upper`, or undefined for an upper that no sandbox made. */
export async function readManifest(upper: string): Promise<Manifest | undefined> {
  const file = join(defaultWork(upper), MANIFEST);
  if (!existsSync(file)) return undefined;
  return new Map(Object.entries(JSON.parse(await fsp.readFile(file, 'utf8')) as object));
}

/**
 * The upper's paths that `target` changed since the manifest was taken, unless `target` holds
 * what the upper holds there already (a previous apply that stopped half-way).
 */
export async function conflicts(
  manifest: Manifest,
  upper: string,
  target: string,
  selected: (rel: string) => boolean,
): Promise<string[]> {
  const format = new OverlayFormat();
  const upperLayer = new DiskLayer(0, upper);
  const targetLayer = new DiskLayer(1, target);
  const { paths, subtrees } = await upperPaths(upper);
  const found: string[] = [];
  for (const rel of paths) {
    if (!selected(rel)) continue;
    const now = await printOf(format, targetLayer, rel);
    if (now === manifest.get(rel)) {
      if (subtrees.includes(rel) && (await subtreeChanged(manifest, targetLayer, rel)))
        found.push(rel);
      continue;
    }
    const wanted = await printOf(format, upperLayer, rel);
    const applied = wanted?.startsWith('whiteout ') ? now === undefined : now === wanted;
    if (!applied) found.push(rel);
  }
  return found;
}

async function subtreeChanged(manifest: Manifest, layer: DiskLayer, rel: string): Promise<boolean> {
  const format = new OverlayFormat();
  const seen = new Set<string>();
  const stat = await layer.lstat(rel);
  if (stat?.isDirectory()) {
    for await (const path of walkLayer(layer, rel)) {
      seen.add(path);
      if ((await printOf(format, layer, path)) !== manifest.get(path)) return true;
    }
  }
  return [...manifest.keys()].some(
    (path) => isWithin(path, rel) && path !== rel && !seen.has(path),
  );
}

async function printOf(
  format: OverlayFormat,
  layer: ReadableLayer,
  rel: string,
): Promise<string | undefined> {
  try {
    const stat = await layer.lstat(rel);
    return stat === undefined ? undefined : fingerprint(format, stat);
  } catch {
    return undefined; // a parent is no directory any more
  }
}

/** The upper's paths, and those whose whole subtree it replaces. */
async function upperPaths(upper: string): Promise<{ paths: Set<string>; subtrees: string[] }> {
  const format = new OverlayFormat();
  const layer = new DiskLayer(0, upper);
  const paths = new Set<string>();
  const subtrees: string[] = [];
  for await (const rel of walkLayer(layer)) {
    paths.add(rel);
    const stat = (await layer.lstat(rel))!;
    const replaced =
      stat.isDirectory() &&
      (format.isOpaque(layer, rel) || format.redirectOf(layer, rel) !== undefined);
    if (format.isWhiteout(stat) || replaced) subtrees.push(rel);
  }
  return { paths, subtrees };
}
