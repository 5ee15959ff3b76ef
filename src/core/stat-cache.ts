/**
 * The stats of merged names' top objects, as the last lookup read them. FUSE asks for the same
 * attributes twice in a row (LOOKUP answers with a getattr, and with attr_timeout=0 the kernel's
 * stat then sends GETATTR), and readdir resolves every name anyway: the second answer comes from
 * here, with no syscall and no threadpool hop.
 *
 * Exact, not timed: the layers change only through the mount, and every change the mount makes
 * (namespace and attribute changes, copy-ups, writes, truncates, and reads and listings, which move
 * atime) drops the whole cache. A stat read while a change ran is not kept (the generation).
 */
import type { Stat } from '../layers/layer.js';

/**
 * A stat walk needs only the pair LOOKUP + GETATTR, `ls -l` what the last readdir read; one
 * BigIntStats costs about 1 KiB, so the bound keeps a huge readdir's cost near 10 MiB.
 */
const MAX_CACHED = 4_000;

export class StatCache {
  private readonly stats = new Map<string, Stat>();
  private generation = 0;
  hits = 0;
  misses = 0;
  /** Off when the layers may change behind the mount's back (--no-cache). */
  enabled = true;
  /** Files the kernel writes to directly are open (OpenFiles): nothing is cached meanwhile. */
  private suspended = 0;

  get size(): number {
    return this.stats.size;
  }

  /** The token to pass to `remember` for a stat read from now on. */
  begin(): number {
    return this.generation;
  }

  get(path: string): Stat | undefined {
    const stat = this.suspended > 0 ? undefined : this.stats.get(path);
    if (stat === undefined) this.misses++;
    else this.hits++;
    return stat;
  }

  /** Keeps `stat` for `path` unless something changed since `begin()` returned `generation`. */
  remember(path: string, stat: Stat, generation: number): void {
    if (!this.enabled || this.suspended > 0 || generation !== this.generation) return;
    if (this.stats.size >= MAX_CACHED) this.stats.delete(this.stats.keys().next().value!);
    this.stats.set(path, stat);
  }

  suspend(): void {
    this.suspended++;
    this.changed();
  }

  /** A file written unseen was closed: a stat read while it was open may be stale. */
  resume(): void {
    this.suspended--;
    this.changed();
  }

  /** Something in the layers changed (or is about to): nothing cached holds any more. */
  changed(): void {
    this.generation++;
    if (this.stats.size > 0) this.stats.clear();
  }
}
