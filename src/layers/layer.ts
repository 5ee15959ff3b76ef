/**
 * Layers behind one interface. A lower layer can only be read: the type has no method that could
 * change it. The upper layer adds the mutations, and the work directory is where objects are built
 * before they are renamed into the upper in one step.
 *
 * Paths inside a layer are relative byte strings ('' is the layer root, 'a/b' below it).
 */
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from './native.js';

export type { FileHandle };

export type Stat = BigIntStats;

export interface DirEntry {
  name: string;
  /** S_IFMT bits of the entry, or 0 when the filesystem did not say (DT_UNKNOWN). */
  type: number;
  /** d_ino, when the layer knows it: the real inode number the directory lists. */
  ino?: bigint;
}

export interface ReadableLayer {
  /** Position in the stack: 0 is the upper (when there is one), then lowers top to bottom. */
  readonly index: number;
  /** The layer's root directory as given by the user (for messages). */
  readonly root: string;
  /** The stat of the object, or undefined when the name does not exist (ENOENT, ENOTDIR). */
  lstat(rel: string): Promise<Stat | undefined>;
  /** The stats of `names` in directory `dir`, as lstat gives each (one directory lookup). */
  lstatAll(dir: string, names: readonly string[]): Promise<(Stat | undefined)[]>;
  readdir(rel: string): Promise<DirEntry[]>;
  readlink(rel: string): Promise<string>;
  getxattr(rel: string, name: string): Buffer | undefined;
  listxattr(rel: string): string[];
  /** Opens the object and returns a real file descriptor. */
  open(rel: string, flags: number): Promise<number>;
  /** The absolute path of an object in this layer, as exact bytes. */
  absolute(rel: string): Buffer;
  /** The object's kernel file handle (for the origin xattr), if the filesystem gives one. */
  handle(rel: string): FileHandle | undefined;
  /** The stat of the object a file handle names on this layer's filesystem, if it exists. */
  statByHandle(handle: FileHandle): Stat | undefined;
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface WritableLayer extends ReadableLayer {
  create(rel: string, flags: number, mode: number): Promise<number>;
  mkdir(rel: string, mode: number): Promise<void>;
  mknod(rel: string, mode: number, rdev: number): void;
  symlink(target: string, rel: string): Promise<void>;
  /** A hard link to `existing` in `fromLayer` (this layer by default; same filesystem). */
  link(existing: string, rel: string, fromLayer?: WritableLayer): Promise<void>;
  unlink(rel: string): Promise<void>;
  rmdir(rel: string): Promise<void>;
  /** Removes `rel` and everything below it; a name already gone is fine. */
  removeTree(rel: string): Promise<void>;
  /** Creates `to` (which must not exist) with the data of `rel` in `source`. */
  copyFrom(source: ReadableLayer, rel: string, to: string): Promise<void>;
  chmod(rel: string, mode: number): Promise<void>;
  chown(rel: string, owner: Owner): Promise<void>;
  truncate(rel: string, size: number): Promise<void>;
  /** Times as [sec, nsec]; nsec may be UTIME_NOW or UTIME_OMIT. */
  utimens(rel: string, atime: readonly [number, number], mtime: readonly [number, number]): void;
  setxattr(rel: string, name: string, value: Buffer, flags?: number): void;
  removexattr(rel: string, name: string): void;
  /** renameat2 within this layer, or from another layer on the same filesystem. */
  rename(from: string, to: string, flags?: number, fromLayer?: WritableLayer): void;
}
