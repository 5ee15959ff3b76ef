/**
 * Lookup: one name is resolved by walking its parent's stack of directories, top first, with the
 * kernel's stop rules (fs/overlayfs/namei.c): a whiteout ends the walk and hides everything below;
 * a non-directory ends it too; a directory is merged with the directories below it until one is
 * opaque or a lower layer has a non-directory of that name.
 *
 * Results are cached by path. The layers change only through the mount, so the cache is exact:
 * every change of the namespace invalidates what it touched, and a lookup that raced with a change
 * is not cached (the generation counter).
 */
import { constants } from 'node:fs';
import type { DirEntry, ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';
import { type Entry, type LayerPath, isDir, typeOf } from './entry.js';
import type { OverlayFormat, WhiteoutPlace } from './format.js';
import type { InodeNumbers } from './inodes.js';
import { isWithin, join, nameOf, parentOf } from './paths.js';
import { StatCache } from './stat-cache.js';

/** About 390 bytes an entry (native-notes/performance.md): at most ~40 MiB. */
const MAX_CACHED = 20_000;

/** What each layer's directory lists (from readdir): a layer that lacks a name needs no lstat. */
export type Listed = ReadonlyMap<ReadableLayer, ReadonlyMap<string, DirEntry>>;

/** Listed types that end a lookup by themselves: not a directory (merged), not a possible whiteout. */
const settledByListing = (type: number): boolean =>
  type !== 0 && type !== constants.S_IFDIR && type !== constants.S_IFCHR;

export class Lookup {
  /** The stats lookups read, for getattr (cleared by every change). */
  readonly stats = new StatCache();
  hits = 0;
  misses = 0;
  private readonly cache = new Map<string, Entry | null>();
  private readonly xwhiteoutDirs = new Map<string, boolean>();
  /** Each layer's st_dev, from its root. */
  private readonly devs = new Map<ReadableLayer, bigint>();
  private generation = 0;

  constructor(
    private readonly layers: readonly ReadableLayer[],
    private readonly upper: WritableLayer | undefined,
    private readonly format: OverlayFormat,
    private readonly inodes: InodeNumbers,
    private readonly followRedirects = true,
  ) {}

  /** Off (--no-cache) for layers that change behind the mount: every lookup walks the layers. */
  caching = true;

  /** The entry at `path`, or undefined when the merged view has no such name. */
  async find(path: string): Promise<Entry | undefined> {
    const cached = this.caching ? this.cache.get(path) : undefined;
    if (cached !== undefined) {
      this.hits++;
      return cached ?? undefined;
    }
    this.misses++;
    const generation = this.generation;
    const entry = path === '' ? await this.root() : await this.child(path);
    if (generation === this.generation) this.remember(entry?.path ?? path, entry);
    return entry;
  }

  private async child(path: string): Promise<Entry | undefined> {
    const parent = await this.find(parentOf(path));
    if (parent === undefined || !isDir(parent)) return undefined;
    return this.findIn(parent, nameOf(path));
  }

  get size(): number {
    return this.cache.size;
  }

  /** Changes with every change of the namespace (and every copy-up). */
  get version(): number {
    return this.generation;
  }

  private async root(): Promise<Entry> {
    const statGeneration = this.stats.begin();
    const stack: LayerPath[] = [];
    const stats: Stat[] = [];
    for (const layer of this.layers) {
      const stat = await layer.lstat('');
      if (stat === undefined) continue;
      this.inodes.register(stat);
      this.devs.set(layer, stat.dev);
      stack.push({ layer, rel: '' });
      stats.push(stat);
      if (this.format.isOpaque(layer, '')) break;
    }
    if (stack.length === 0) throw new Error('no layer root could be read');
    this.stats.remember('', stats[0]!, statGeneration);
    return { path: '', type: constants.S_IFDIR, stack, ino: this.inodeOf(stack, stats) };
  }

  /**
   * A name a merged readdir found, from the listings alone when they say all a lookup would: the
   * entry ends the lookup in the top-most layer listing it (not a directory, not a whiteout), and
   * that layer is a lower or an upper directory that is not impure (`pureUpper`: none of its
   * objects has an origin). Its number is the d_ino listed, as the kernel shows (readdir.c
   * ovl_calc_d_ino); no lstat. Anything else is looked up.
   */
  async listedEntry(
    parent: Entry,
    name: string,
    listed: Listed,
    pureUpper = false,
  ): Promise<Entry | undefined> {
    const top = parent.stack.find((dir) => listed.get(dir.layer)?.has(name));
    const dirent = top && listed.get(top.layer)!.get(name)!;
    const dev = top && this.devs.get(top.layer);
    if (top === undefined || dirent?.ino === undefined || dev === undefined) {
      return this.findIn(parent, name, listed);
    }
    const path = join(parent.path, name);
    const rel = top.rel === parent.path ? path : join(top.rel, name);
    const inUpper = top.layer === this.upper;
    if (
      (inUpper && !pureUpper) ||
      !settledByListing(dirent.type) ||
      (!inUpper && dirent.type === constants.S_IFREG && this.inXWhiteoutDir(top.layer, rel))
    ) {
      return this.findIn(parent, name, listed);
    }
    const ino = inUpper
      ? this.inodes.forUpperReal(dev, dirent.ino)
      : this.inodes.ofReal(dev, dirent.ino);
    return { path, type: dirent.type, stack: [{ layer: top.layer, rel }], ino };
  }

  /**
   * Resolves `name` in directory `parent` (namei.c ovl_lookup_single, once per layer). With
   * `listed`, the parent's directories were just read: a layer whose listing lacks the name is
   * skipped (a redirect's targets are still looked at).
   */
  async findIn(parent: Entry, name: string, listed?: Listed): Promise<Entry | undefined> {
    const statGeneration = this.stats.begin();
    const stack: LayerPath[] = [];
    const stats: Stat[] = [];
    const path = join(parent.path, name);
    // Where to look, layer by layer; a redirect changes the path for the layers below it. A layer
    // path equal to the merged one shares its string (the cache holds many).
    let candidates: { layer: ReadableLayer; rel: string; absent?: boolean }[] = parent.stack.map(
      (dir) => ({
        layer: dir.layer,
        rel: dir.rel === parent.path ? path : join(dir.rel, name),
        absent: listed?.get(dir.layer)?.has(name) === false,
      }),
    );
    for (let i = 0; i < candidates.length; i++) {
      const { layer, rel, absent } = candidates[i]!;
      if (absent) continue;
      const stat = await layer.lstat(rel);
      if (stat === undefined) continue;
      if (this.format.isWhiteout(stat, this.place(layer, rel))) break;
      if (stack.length > 0 && typeOf(stat) !== constants.S_IFDIR) break;
      stack.push({ layer, rel });
      stats.push(stat);
      if (typeOf(stat) !== constants.S_IFDIR || this.format.isOpaque(layer, rel)) break;
      const redirect = this.followRedirects ? this.format.redirectOf(layer, rel) : undefined;
      if (redirect !== undefined) {
        candidates = [
          ...candidates.slice(0, i + 1),
          ...this.redirected(redirect, layer, candidates.slice(i + 1)),
        ];
      }
    }
    if (stack.length === 0) return undefined;
    this.stats.remember(path, stats[0]!, statGeneration);
    return { path, type: typeOf(stats[0]!), stack, ino: this.inodeOf(stack, stats) };
  }

  /**
   * The places below `layer` to look for a redirected directory: an absolute redirect is a path
   * from the root of every lower layer below; a relative one renames within the same parents.
   */
  private redirected(redirect: string, layer: ReadableLayer, below: LayerPath[]): LayerPath[] {
    if (!redirect.startsWith('/')) {
      return below.map((p) => ({ layer: p.layer, rel: join(parentOf(p.rel), redirect) }));
    }
    return this.layers
      .filter((l) => l.index > layer.index)
      .map((l) => ({ layer: l, rel: redirect.slice(1) }));
  }

  private inodeOf(stack: LayerPath[], stats: Stat[]): number {
    const [first, second] = stack;
    if (first!.layer !== this.upper) return this.inodes.of(stats[0]!);
    // A merged directory shows its top-most lower directory's number: the same before and after
    // its copy-up, and across remounts.
    if (second !== undefined) return this.inodes.of(stats[1]!);
    return this.inodes.forUpper(stats[0]!, this.originStat(first!.rel));
  }

  /** The stat of the lower object an upper object was copied up from, if it is still there. */
  private originStat(rel: string): Stat | undefined {
    const handle = this.format.originOf(this.upper!, rel);
    if (handle === undefined) return undefined;
    for (const layer of this.layers) {
      if (layer === this.upper) continue;
      const stat = layer.statByHandle(handle);
      if (stat !== undefined) return stat;
    }
    return undefined;
  }

  /** Where `rel` is, for the whiteout test. */
  private place(layer: ReadableLayer, rel: string): WhiteoutPlace {
    return { layer, rel, inXWhiteoutDir: () => this.inXWhiteoutDir(layer, rel) };
  }

  /**
   * Whether the directory holding `rel` may hold xattr whiteouts. Remembered for lowers (they
   * never change, and every empty file in one would ask again); the upper's is asked each time.
   */
  private inXWhiteoutDir(layer: ReadableLayer, rel: string): boolean {
    const dir = parentOf(rel);
    if (layer === this.upper || !this.caching) return this.format.holdsXWhiteouts(layer, dir);
    const key = `${layer.index}/${dir}`;
    let holds = this.xwhiteoutDirs.get(key);
    if (holds === undefined) {
      holds = this.format.holdsXWhiteouts(layer, dir);
      if (this.xwhiteoutDirs.size >= MAX_CACHED) this.xwhiteoutDirs.clear();
      this.xwhiteoutDirs.set(key, holds);
    }
    return holds;
  }

  /**
   * Whether a lower layer under `parent` holds `name`: then removing or renaming the name must
   * leave a whiteout (the kernel's ovl_lower_positive).
   */
  async lowerHas(parent: Entry, name: string): Promise<boolean> {
    for (const dir of parent.stack) {
      if (dir.layer === this.upper) continue;
      const rel = join(dir.rel, name);
      const stat = await dir.layer.lstat(rel);
      if (stat !== undefined) return !this.format.isWhiteout(stat, this.place(dir.layer, rel));
    }
    return false;
  }

  /** Replaces what is known of one path after a change made through the mount. */
  set(path: string, entry: Entry | undefined): void {
    this.generation++;
    this.stats.changed();
    this.remember(path, entry);
  }

  /** Forgets a path and everything below it. */
  forget(path: string): void {
    this.generation++;
    this.stats.changed();
    this.cache.delete(path);
    for (const key of this.cache.keys()) if (isWithin(key, path)) this.cache.delete(key);
  }

  /** Forgets one path only (its subtree, if any, is known to be unchanged). */
  forgetOne(path: string): void {
    this.generation++;
    this.stats.changed();
    this.cache.delete(path);
  }

  private remember(path: string, entry: Entry | undefined): void {
    if (!this.caching) return;
    if (this.cache.size >= MAX_CACHED) {
      // Oldest first; an entry dropped here is simply looked up again.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(path, entry ?? null);
  }
}
