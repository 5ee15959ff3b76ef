/**
 * Layers for tests, stated as plain objects and written in the kernel's on-disk format:
 *
 * ```ts
 * writeLayer(dir, { 'etc/app.conf': 'text', 'old.txt': whiteout(), 'cache/': opaqueDir() });
 * ```
 *
 * A key is a path relative to the layer root; a key ending in '/' is a directory; parents are
 * created as needed. Whiteouts and opaque directories go through the core's OverlayFormat, so
 * these layers are exactly what the kernel and the mount read and write.
 */
import {
  chmodSync,
  constants,
  mkdirSync,
  promises as fsp,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { OverlayFormat } from '../core/format.js';
import { DiskLayer, WritableDiskLayer } from '../layers/disk.js';
import type { Stat } from '../layers/layer.js';

/** A regular file's content; `mode` defaults to 0644, `xattrs` are set as given. */
export interface FileNode {
  kind: 'file';
  data: string | Buffer;
  mode?: number;
  xattrs?: Record<string, string>;
}

/** One object in a layer: a string or Buffer is a regular file (mode 0644) with that content. */
export type Node =
  | string
  | Buffer
  | FileNode
  | { kind: 'whiteout' }
  | { kind: 'dir'; opaque?: boolean; mode?: number }
  | { kind: 'symlink'; target: string }
  | { kind: 'fifo' };

/** A layer: relative path → object. */
export type LayerSpec = Record<string, Node>;

/** Options for {@link writeLayer} and {@link readLayer}. */
export interface LayerFormatOptions {
  /** The on-disk format; default: the kernel's `trusted.overlay.*` form. */
  format?: OverlayFormat;
}

/** A whiteout: hides the name in every layer below (a 0/0 character device). */
export const whiteout = (): Node => ({ kind: 'whiteout' });
/** An opaque directory: nothing below it in lower layers is merged. */
export const opaqueDir = (): Node => ({ kind: 'dir', opaque: true });
/** A directory (mode 0755 unless given); only needed for empty ones, parents are implied. */
export const dir = (mode?: number): Node =>
  mode === undefined || mode === 0o755 ? { kind: 'dir' } : { kind: 'dir', mode };
/** A symbolic link to `target`. */
export const symlink = (target: string): Node => ({ kind: 'symlink', target });
/** A regular file with a mode other than 0644 or with xattrs. */
export const file = (
  data: string | Buffer,
  extra: { mode?: number; xattrs?: Record<string, string> } = {},
): FileNode => ({ kind: 'file', data, ...extra });
/** A named pipe. */
export const fifo = (): Node => ({ kind: 'fifo' });

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;

/** Layer-relative byte string (the core's path form) for a spec key. */
const relOf = (key: string): string =>
  Buffer.from(key.replace(/\/+$/, ''), 'utf8').toString('latin1');
const keyOf = (rel: string): string => Buffer.from(rel, 'latin1').toString('utf8');
const parentOf = (rel: string): string => rel.slice(0, Math.max(rel.lastIndexOf('/'), 0));

/**
 * Writes `spec` into `root` (created if missing) and returns `root`. Synchronous, so a test can
 * state its layers inline: `lowers: [writeLayer(a, {...}), writeLayer(b, {...})]`.
 */
export function writeLayer(
  root: string,
  spec: LayerSpec,
  options: LayerFormatOptions = {},
): string {
  const format = options.format ?? new OverlayFormat();
  mkdirSync(root, { recursive: true });
  const layer = new WritableDiskLayer(0, root);
  for (const [key, node] of Object.entries(spec)) {
    const rel = relOf(key);
    mkdirSync(layer.absolute(parentOf(rel)), { recursive: true });
    writeNode(layer, rel, key.endsWith('/') && typeof node === 'string' ? dir() : node, format);
  }
  return root;
}

function writeNode(layer: WritableDiskLayer, rel: string, node: Node, format: OverlayFormat): void {
  const path = layer.absolute(rel);
  if (typeof node === 'string' || Buffer.isBuffer(node)) node = file(node);
  switch (node.kind) {
    case 'whiteout':
      return format.makeWhiteout(layer, rel);
    case 'dir':
      mkdirSync(path, { recursive: true });
      // Modes are set after creation: the process umask must not change the layer.
      chmodSync(path, node.mode ?? DEFAULT_DIR_MODE);
      if (node.opaque) format.markOpaque(layer, rel);
      return;
    case 'symlink':
      return symlinkSync(node.target, path);
    case 'file':
      writeFileSync(path, node.data);
      chmodSync(path, node.mode ?? DEFAULT_FILE_MODE);
      for (const [name, value] of Object.entries(node.xattrs ?? {}))
        layer.setxattr(rel, name, Buffer.from(value));
      return;
    case 'fifo':
      return layer.mknod(rel, constants.S_IFIFO | DEFAULT_FILE_MODE, 0);
  }
}

/**
 * Reads the layer at `root` back into the shape {@link writeLayer} takes: whiteouts, opaque
 * directories, symlinks and files as markers; a directory appears only when nothing below it
 * implies it, or when it is opaque or not 0755. The overlay's private xattrs are not listed.
 * Files are strings when their content is UTF-8 and they are plain (0644, no xattrs).
 */
export async function readLayer(
  root: string,
  options: LayerFormatOptions = {},
): Promise<LayerSpec> {
  const format = options.format ?? new OverlayFormat();
  const layer = new DiskLayer(0, root);
  const spec: LayerSpec = {};
  await readDir(layer, '', format, spec);
  return spec;
}

/** Adds the children of `rel` to `spec`; returns whether any was added. */
async function readDir(
  layer: DiskLayer,
  rel: string,
  format: OverlayFormat,
  spec: LayerSpec,
): Promise<boolean> {
  const entries = await layer.readdir(rel);
  for (const { name } of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    const stat = (await layer.lstat(child))!;
    if (!stat.isDirectory()) {
      spec[keyOf(child)] = await readNode(layer, child, stat, format);
      continue;
    }
    const marker = dirNode(layer, child, stat, format);
    const key = `${keyOf(child)}/`;
    if (marker !== undefined) spec[key] = marker;
    const hasChildren = await readDir(layer, child, format, spec);
    if (!hasChildren && marker === undefined) spec[key] = dir();
  }
  return entries.length > 0;
}

/** The marker a directory needs, or undefined for a plain 0755 one. */
function dirNode(
  layer: DiskLayer,
  rel: string,
  stat: Stat,
  format: OverlayFormat,
): Node | undefined {
  const mode = Number(stat.mode) & 0o7777;
  if (format.isOpaque(layer, rel))
    return mode === DEFAULT_DIR_MODE ? opaqueDir() : { kind: 'dir', opaque: true, mode };
  return mode === DEFAULT_DIR_MODE ? undefined : dir(mode);
}

async function readNode(
  layer: DiskLayer,
  rel: string,
  stat: Stat,
  format: OverlayFormat,
): Promise<Node> {
  if (format.isWhiteout(stat)) return whiteout();
  if (stat.isSymbolicLink()) return symlink(keyOf(await layer.readlink(rel)));
  if (stat.isFIFO()) return fifo();
  if (!stat.isFile()) throw new Error(`${layer.root}/${keyOf(rel)}: not a file, directory or link`);
  const data = await fsp.readFile(layer.absolute(rel));
  const mode = Number(stat.mode) & 0o7777;
  const xattrs = userXattrs(layer, rel, format);
  const text = data.toString('utf8');
  const content = Buffer.from(text, 'utf8').equals(data) ? text : data;
  if (mode === DEFAULT_FILE_MODE && xattrs === undefined) return content;
  return file(content, {
    ...(mode === DEFAULT_FILE_MODE ? {} : { mode }),
    ...(xattrs && { xattrs }),
  });
}

/** The file's xattrs other than the overlay's own, or undefined when there are none. */
function userXattrs(
  layer: DiskLayer,
  rel: string,
  format: OverlayFormat,
): Record<string, string> | undefined {
  const names = layer.listxattr(rel).filter((name) => !format.isPrivateXattr(name));
  if (names.length === 0) return undefined;
  return Object.fromEntries(names.sort().map((n) => [n, layer.getxattr(rel, n)!.toString()]));
}
