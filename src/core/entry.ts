/** What a lookup finds: where a merged name lives, top layer first (the kernel's ovl_entry). */
import { constants } from 'node:fs';
import type { ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';

export interface LayerPath {
  layer: ReadableLayer;
  rel: string;
}

export interface Entry {
  /** Merged path ('' for the root). */
  path: string;
  /** S_IFMT bits of the top object. */
  type: number;
  /**
   * The objects that make up this name, top first. A non-directory has one; a directory has every
   * directory down to the first opaque one (its merged stack).
   */
  stack: LayerPath[];
  /** Inode number shown through the mount: stable across copy-up (see inodes.ts). */
  ino: number;
}

export const isDir = (e: { type: number }): boolean => e.type === constants.S_IFDIR;

export const typeOf = (stat: Stat): number => Number(stat.mode) & constants.S_IFMT;

/**
 * A non-directory with other names: a change through one of them is not seen by the kernel inodes
 * of the others (libfuse 2 gives each name its own), so its attributes must not be cached.
 */
export const hasOtherNames = (type: number, nlink: number): boolean =>
  type !== constants.S_IFDIR && nlink > 1;

export function top(entry: Entry): LayerPath {
  return entry.stack[0]!;
}

/** The upper object of the entry, when the name has been copied up or created in the upper. */
export function upperOf(entry: Entry, upper: WritableLayer | undefined): string | undefined {
  const first = top(entry);
  return upper !== undefined && first.layer === upper ? first.rel : undefined;
}

/** True when some lower layer takes part in this name (merged or lower-only). */
export function hasLower(entry: Entry, upper: WritableLayer | undefined): boolean {
  return entry.stack.some((p) => p.layer !== upper);
}
