/**
 * Merged paths inside the core are relative byte strings: '' is the root, 'a/b' a descendant.
 * Every char is one byte (latin1), so any name Linux allows is represented exactly.
 */
import { fsError } from './errors.js';

export const NAME_MAX = 255;

export function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

export function nameOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

export function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** FUSE paths ('/a/b') to core paths ('a/b'), refusing names longer than NAME_MAX bytes. */
export function fromFusePath(path: string): string {
  const rel = path.slice(1);
  if (nameOf(rel).length > NAME_MAX) throw fsError('ENAMETOOLONG');
  return rel;
}

/** Core paths ('a/b', '' for the root) to FUSE paths ('/a/b', '/'). */
export function toFusePath(rel: string): string {
  return `/${rel}`;
}

/** True when `rel` is `dir` itself or lies below it. */
export function isWithin(rel: string, dir: string): boolean {
  return dir === '' || rel === dir || rel.startsWith(dir + '/');
}
