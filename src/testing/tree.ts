/**
 * Trees as comparable text: one line per object with its type, mode, owner, content digest, link
 * target, device number and (optionally) xattrs. Names are read as bytes, so any name compares.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as native from '../layers/native.js';

/** What {@link snapshot} includes besides type, mode, owner, size, content and link target. */
export interface SnapshotOptions {
  /** xattrs to include, by name prefix (default: user.* only). */
  xattrs?: string[];
  /** xattrs to leave out even if they match (e.g. the kernel's own origin/impure markers). */
  ignoreXattrs?: string[];
  /** Include link counts of non-directories. */
  nlink?: boolean;
}

const TYPES: Record<number, string> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'link',
  0o020000: 'chr',
  0o060000: 'blk',
  0o010000: 'fifo',
  0o140000: 'sock',
};

/** Every object below `root` as one line (`"path" type mode uid:gid ...`), sorted by path. */
export function snapshot(root: string, options: SnapshotOptions = {}): string[] {
  const lines: string[] = [];
  walk(Buffer.from(root), '', lines, options);
  return lines.sort();
}

function walk(root: Buffer, rel: string, lines: string[], options: SnapshotOptions): void {
  const dir = rel === '' ? root : Buffer.concat([root, Buffer.from('/' + rel, 'latin1')]);
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const child = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
    const path = Buffer.concat([root, Buffer.from('/' + child, 'latin1')]);
    const stat = lstatSync(path);
    lines.push(`${JSON.stringify(child)} ${describe(path, stat, options)}`);
    if (stat.isDirectory()) walk(root, child, lines, options);
  }
}

function describe(path: Buffer, stat: import('node:fs').Stats, options: SnapshotOptions): string {
  const type = TYPES[stat.mode & 0o170000] ?? 'unknown';
  const parts = [type, (stat.mode & 0o7777).toString(8), `${stat.uid}:${stat.gid}`];
  if (stat.isFile()) parts.push(`size=${stat.size}`, digest(readFileSync(path)));
  if (stat.isSymbolicLink()) parts.push(`-> ${JSON.stringify(readlinkSync(path, 'latin1'))}`);
  if (stat.isCharacterDevice() || stat.isBlockDevice()) parts.push(`rdev=${stat.rdev}`);
  if (options.nlink && !stat.isDirectory()) parts.push(`nlink=${stat.nlink}`);
  const xattrs = selectedXattrs(path, options);
  if (xattrs.length > 0) parts.push(`xattrs{${xattrs.join(',')}}`);
  return parts.join(' ');
}

function selectedXattrs(path: Buffer, options: SnapshotOptions): string[] {
  const prefixes = options.xattrs ?? ['user.'];
  return native
    .listxattr(path)
    .filter((name) => prefixes.some((p) => name.startsWith(p)))
    .filter((name) => !(options.ignoreXattrs ?? []).includes(name))
    .sort()
    .map((name) => `${name}=${native.getxattr(path, name)?.toString('latin1') ?? ''}`);
}

const digest = (data: Buffer): string => createHash('sha1').update(data).digest('hex').slice(0, 12);
