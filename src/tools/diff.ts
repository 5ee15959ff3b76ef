/**
 * `diff`: what the container layer changed, as docker diff shows it: `A` added, `C` changed, `D`
 * deleted, one line per path, sorted. It compares two merged views read through the core, the
 * lowers alone (before) and the upper over them (after), visiting only what the upper holds.
 *
 * A directory is `C` when it was replaced (opaque, or renamed in with a redirect) or its own
 * attributes changed (mode, owner, mtime: adding or removing names changes its mtime); a copy-up
 * alone keeps them. Below an added directory every merged name is `A`; below a deleted one the
 * names are not listed (docker's convention).
 */
import { type Entry, isDir } from '../core/entry.js';
import { join } from '../core/paths.js';
import type { Stat } from '../layers/layer.js';
import { compareBytes, display, openStack, type Stack, walkMerged } from './stack.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  path: string;
}

export async function diff(lowers: readonly string[], upper: string): Promise<Change[]> {
  return (await changesOf(openStack(lowers), openStack(lowers, upper))).map(({ kind, rel }) => ({
    kind,
    path: display(rel),
  }));
}

/** The changes with core paths (`rel`), sorted: `before` is the lowers, `after` the upper over them. */
export async function changesOf(
  before: Stack,
  after: Stack,
): Promise<{ kind: ChangeKind; rel: string }[]> {
  const walk = new DiffWalk(before, after);
  await walk.children('');
  return walk.changes.sort((a, b) => compareBytes(a.rel, b.rel));
}

class DiffWalk {
  readonly changes: { kind: ChangeKind; rel: string }[] = [];

  constructor(
    private readonly before: Stack,
    private readonly after: Stack,
  ) {}

  /** Visits the names of a directory that exists in both views. */
  async children(path: string): Promise<void> {
    const after = (await this.after.merged.lookup.find(path))!;
    const names = new Set(await this.upperNames(after));
    if (this.replaced(after)) {
      for (const child of await this.after.merged.readdir(path)) names.add(nameIn(child, path));
      for (const child of await this.before.merged.readdir(path)) names.add(nameIn(child, path));
    }
    for (const name of names) await this.visit(join(path, name));
  }

  private async visit(path: string): Promise<void> {
    const after = await this.after.merged.lookup.find(path);
    const before = await this.before.merged.lookup.find(path);
    if (after === undefined) {
      if (before !== undefined) this.changes.push({ kind: 'D', rel: path });
      return;
    }
    if (after.stack[0]!.layer !== this.after.upper) return;
    if (before === undefined || isDir(before) !== isDir(after)) {
      this.changes.push({ kind: before === undefined ? 'A' : 'C', rel: path });
      if (isDir(after))
        for await (const child of walkMerged(this.after, after))
          this.changes.push({ kind: 'A', rel: child.path });
      return;
    }
    if (!isDir(after) || this.replaced(after) || (await this.attributesChanged(after, before)))
      this.changes.push({ kind: 'C', rel: path });
    if (isDir(after)) await this.children(path);
  }

  private async upperNames(dir: Entry): Promise<string[]> {
    const top = dir.stack[0]!;
    if (top.layer !== this.after.upper) return [];
    return (await top.layer.readdir(top.rel)).map((e) => e.name);
  }

  /** An upper directory that does not merge with the same lower directory. */
  private replaced(dir: Entry): boolean {
    const { layer, rel } = dir.stack[0]!;
    if (layer !== this.after.upper) return false;
    const format = this.after.format;
    return format.isOpaque(layer, rel) || format.redirectOf(layer, rel) !== undefined;
  }

  private async attributesChanged(after: Entry, before: Entry): Promise<boolean> {
    const [a, b] = await Promise.all([statOf(after), statOf(before)]);
    return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtimeNs !== b.mtimeNs;
  }
}

async function statOf(entry: Entry): Promise<Stat> {
  const { layer, rel } = entry.stack[0]!;
  const stat = await layer.lstat(rel);
  if (stat === undefined) throw new Error(`${layer.root}: ${rel} vanished while reading`);
  return stat;
}

const nameIn = (child: Entry, dir: string): string =>
  dir === '' ? child.path : child.path.slice(dir.length + 1);
