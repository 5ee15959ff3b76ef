/**
 * Where a mount's time goes (`--stats`): FUSE requests by op with latency percentiles, errors,
 * copy-ups and their bytes, and the core caches' hits and misses. Latencies go into log-scale
 * buckets (four per power of two), so memory stays constant however long the mount lives and a
 * percentile is exact to within 19 %.
 */
import type { UnionEvent } from '../core/overlay.js';
import type { AnsweredInBinding } from './binding.js';

const BUCKETS_PER_OCTAVE = 4;
const BUCKETS = 40 * BUCKETS_PER_OCTAVE; // up to 2^40 µs

class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  errors = 0;
  totalUs = 0;

  add(us: number, failed: boolean): void {
    const bucket =
      us < 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log2(us) * BUCKETS_PER_OCTAVE));
    this.counts[bucket]!++;
    this.count++;
    this.totalUs += us;
    if (failed) this.errors++;
  }

  /** The latency (µs) that `fraction` of the requests did not exceed: a bucket's upper bound. */
  percentile(fraction: number): number {
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= fraction * this.count) return 2 ** (i / BUCKETS_PER_OCTAVE);
    }
    return Infinity;
  }
}

/** Counters the core keeps (Lookup, the stat cache). */
export interface CacheCounters {
  name: string;
  hits: number;
  misses: number;
  size: number;
}

export class MountStats {
  private readonly ops = new Map<string, Histogram>();
  private readonly started = Date.now();
  private copyUps = 0;
  private copyUpBytes = 0;
  private copyUpMs = 0;

  /** The core's caches, read at each report (set once the overlay exists). */
  caches: () => CacheCounters[] = () => [];
  /** Requests the binding answered itself (none reached the ops). */
  answeredInBinding: () => AnsweredInBinding = () => ({
    lookups: 0,
    reads: 0,
    attributes: 0,
    absent: 0,
    opens: 0,
  });

  /** One request answered after `us` microseconds, with a negative errno when it failed. */
  request(op: string, us: number, errno: number): void {
    let histogram = this.ops.get(op);
    if (histogram === undefined) this.ops.set(op, (histogram = new Histogram()));
    histogram.add(us, errno < 0);
  }

  event(event: UnionEvent): void {
    if (event.type !== 'copy-up') return;
    this.copyUps++;
    this.copyUpBytes += event.bytes;
    this.copyUpMs += event.ms;
  }

  /** A plain-text report: one line per op, slowest total first. */
  report(): string {
    const seconds = (Date.now() - this.started) / 1000;
    const rows = [...this.ops].sort(([, a], [, b]) => b.totalUs - a.totalUs);
    const fmt = (us: number): string =>
      us < 1000 ? `${Math.round(us)}µs` : `${(us / 1000).toFixed(1)}ms`;
    const answered = this.answeredInBinding();
    const lines = [
      `unionmount stats after ${seconds.toFixed(1)} s`,
      `${'op'.padEnd(12)}${'count'.padStart(10)}${'errors'.padStart(8)}${'total'.padStart(10)}` +
        `${'p50'.padStart(9)}${'p90'.padStart(9)}${'p99'.padStart(9)}${'max≤'.padStart(9)}`,
      ...rows.map(
        ([op, h]) =>
          `${op.padEnd(12)}${String(h.count).padStart(10)}${String(h.errors).padStart(8)}` +
          `${fmt(h.totalUs).padStart(10)}${fmt(h.percentile(0.5)).padStart(9)}` +
          `${fmt(h.percentile(0.9)).padStart(9)}${fmt(h.percentile(0.99)).padStart(9)}` +
          `${fmt(h.percentile(1)).padStart(9)}`,
      ),
      `copy-ups ${this.copyUps}, ${this.copyUpBytes} bytes, ${this.copyUpMs.toFixed(0)} ms`,
      ...this.caches().map(
        (c) => `${c.name}: ${c.hits} hits, ${c.misses} misses, ${c.size} entries`,
      ),
      `attributes sent ahead: ${answered.lookups} lookups answered in the binding`,
      `reads answered in the binding: ${answered.reads}`,
      `open files' attributes answered in the binding: ${answered.attributes}`,
      `lookups in new directories answered in the binding: ${answered.absent}`,
      `lower files opened in the binding: ${answered.opens}`,
    ];
    return lines.join('\n') + '\n';
  }
}
