/**
 * `inspect`: how the stack resolves one path. For each layer, top to bottom: what it holds there
 * and why that object is visible, merged, shadowed or hidden (by a whiteout, an opaque directory
 * or a non-directory above it, possibly at a parent); for a directory, where each entry comes from.
 */
import type { Entry } from '../core/entry.js';
import { nameOf } from '../core/paths.js';
import type { DiskLayer } from '../layers/disk.js';
import { compareBytes, display, kindOf, roleOf, type Stack } from './stack.js';

export type LayerState = 'visible' | 'merged' | 'shadowed' | 'hidden' | 'whiteout' | 'absent';

export interface LayerObject {
  kind: string;
  size?: number;
  target?: string;
  opaque?: true;
  redirect?: string;
}

export interface LayerRow {
  role: string;
  root: string;
  /** Where this layer was looked at (differs from the merged path below a redirect). */
  path: string;
  object: LayerObject | null;
  state: LayerState;
  /** What covers a shadowed or hidden object, e.g. 'whiteout in upper'. */
  by?: string;
}

export interface DirectoryEntry {
  name: string;
  kind: string;
  from: string;
  /** Every layer merged into a directory entry, top first. */
  merged?: string[];
}

export interface Inspection {
  path: string;
  /** The merged object's kind, or null when the merged view has no such name. */
  kind: string | null;
  servedBy: string | null;
  copyUp:
    'copied up' | 'upper only' | 'lower only' | 'no upper' | 'whited out' | 'hidden' | 'absent';
  /** Opaque directories and redirects on the way to the path (and at it). */
  markers: string[];
  layers: LayerRow[];
  entries?: DirectoryEntry[];
}

/** Inspects `path` ('/a/b' or 'a/b') in the stack. */
export async function inspect(stack: Stack, path: string): Promise<Inspection> {
  const rel = path.split('/').filter(Boolean).join('/');
  const entry = await stack.merged.lookup.find(rel);
  const layers: LayerRow[] = [];
  for (const layer of stack.layers) layers.push(await rowOf(stack, layer, rel, entry));
  const inspection: Inspection = {
    path: display(rel),
    kind:
      entry === undefined
        ? null
        : (layers.find((l) => l.state === 'visible')?.object?.kind ?? null),
    servedBy: entry === undefined ? null : roleOf(entry.stack[0]!.layer),
    copyUp: copyUpState(stack, entry, layers),
    markers: await markersOn(stack, rel),
    layers,
  };
  if (entry !== undefined && inspection.kind === 'dir')
    inspection.entries = await entriesOf(stack, entry);
  return inspection;
}

async function rowOf(
  stack: Stack,
  layer: DiskLayer,
  rel: string,
  entry: Entry | undefined,
): Promise<LayerRow> {
  const at = entry?.stack.findIndex((p) => p.layer === layer) ?? -1;
  const where = at >= 0 ? entry!.stack[at]!.rel : rel;
  const row = { role: roleOf(layer), root: layer.root, path: display(where) };
  const stat = await layer.lstat(where);
  if (stat === undefined) return { ...row, object: null, state: 'absent' };
  const object: LayerObject = { kind: kindOf(stack.format, stat) };
  if (stat.isFile()) object.size = Number(stat.size);
  if (stat.isSymbolicLink()) object.target = await layer.readlink(where);
  if (stat.isDirectory() && stack.format.isOpaque(layer, where)) object.opaque = true;
  const redirect = stat.isDirectory() ? stack.format.redirectOf(layer, where) : undefined;
  if (redirect !== undefined) object.redirect = redirect;
  if (at === 0) return { ...row, object, state: 'visible' };
  if (at > 0) return { ...row, object, state: 'merged' };
  const cover = await coverOf(stack, layer, rel, object.kind === 'dir');
  if (cover === undefined)
    return { ...row, object, state: object.kind === 'whiteout' ? 'whiteout' : 'hidden' };
  return { ...row, object, state: cover.state, by: cover.by };
}

export interface Cover {
  state: 'shadowed' | 'hidden';
  by: string;
}

/**
 * Why `layer`'s object at `rel` is not part of the merged view: the nearest layer above it that
 * has, at a parent, a whiteout, a non-directory or an opaque directory (hidden), or at `rel`
 * itself a whiteout or opaque directory (hidden) or any other object (shadowed).
 */
export async function coverOf(
  stack: Stack,
  layer: DiskLayer,
  rel: string,
  isDirectory: boolean,
): Promise<Cover | undefined> {
  const parts = rel.split('/');
  for (const above of stack.layers.slice(0, stack.layers.indexOf(layer)).reverse()) {
    const role = roleOf(above);
    for (let depth = 1; depth <= parts.length; depth++) {
      const at = parts.slice(0, depth).join('/');
      const stat = await above.lstat(at);
      if (stat === undefined) continue;
      const where = depth < parts.length ? ` at ${display(at)}` : '';
      if (stack.format.isWhiteout(stat))
        return { state: 'hidden', by: `whiteout${where} in ${role}` };
      if (!stat.isDirectory())
        return depth < parts.length
          ? { state: 'hidden', by: `${kindOf(stack.format, stat)}${where} in ${role}` }
          : { state: 'shadowed', by: `${kindOf(stack.format, stat)} in ${role}` };
      if (stack.format.isOpaque(above, at) && (depth < parts.length || isDirectory))
        return { state: 'hidden', by: `opaque dir${where} in ${role}` };
      if (depth === parts.length && !isDirectory)
        return { state: 'shadowed', by: `dir in ${role}` };
    }
  }
  return undefined;
}

function copyUpState(
  stack: Stack,
  entry: Entry | undefined,
  layers: LayerRow[],
): Inspection['copyUp'] {
  if (entry === undefined) {
    if (layers.some((l) => l.state === 'whiteout')) return 'whited out';
    return layers.some((l) => l.object !== null) ? 'hidden' : 'absent';
  }
  if (stack.upper === undefined) return 'no upper';
  if (entry.stack[0]!.layer !== stack.upper) return 'lower only';
  const lowerCopy = layers.some(
    (l) => l.role !== 'upper' && l.object !== null && l.object.kind !== 'whiteout',
  );
  return lowerCopy ? 'copied up' : 'upper only';
}

async function markersOn(stack: Stack, rel: string): Promise<string[]> {
  const markers: string[] = [];
  const parts = rel === '' ? [] : rel.split('/');
  for (let depth = 0; depth <= parts.length; depth++) {
    const entry = await stack.merged.lookup.find(parts.slice(0, depth).join('/'));
    if (entry === undefined) break;
    for (const { layer, rel: at } of entry.stack) {
      if (stack.format.isOpaque(layer, at))
        markers.push(`${display(entry.path)}: opaque in ${roleOf(layer)}`);
      const redirect = stack.format.redirectOf(layer, at);
      if (redirect !== undefined)
        markers.push(`${display(entry.path)}: redirect to ${redirect} in ${roleOf(layer)}`);
    }
  }
  return markers;
}

async function entriesOf(stack: Stack, dir: Entry): Promise<DirectoryEntry[]> {
  const children = await stack.merged.readdir(dir.path);
  children.sort((a, b) => compareBytes(a.path, b.path));
  const entries: DirectoryEntry[] = [];
  for (const child of children) {
    const { layer, rel } = child.stack[0]!;
    const stat = await layer.lstat(rel);
    const entry: DirectoryEntry = {
      name: Buffer.from(nameOf(child.path), 'latin1').toString(),
      kind: stat === undefined ? 'unknown' : kindOf(stack.format, stat),
      from: roleOf(layer),
    };
    if (child.stack.length > 1) entry.merged = child.stack.map((p) => roleOf(p.layer));
    entries.push(entry);
  }
  return entries;
}
