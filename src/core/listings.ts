/**
 * Merged directory listings, as the kernel's ovl_dir_cache: one is valid while the namespace is
 * unchanged (Lookup.version). Any change anywhere makes them all stale, which is exact and cheap:
 * a listing is merged again when next read.
 */
import type { Entry } from './entry.js';

/**
 * About 390 bytes an entry: the kept listings stay under 10 MiB together. A walk's lookups are
 * answered ahead only from a kept listing (Overlay.attributesAhead), so a second pass over 20,000
 * files still finds each directory's.
 */
const MAX_ENTRIES = 25_000;

export class Listings {
  private readonly listings = new Map<string, { version: number; entries: Entry[] }>();
  private total = 0;

  get(path: string, version: number): Entry[] | undefined {
    const listing = this.listings.get(path);
    return listing?.version === version ? listing.entries : undefined;
  }

  set(path: string, version: number, entries: Entry[]): void {
    this.drop(path);
    if (entries.length > MAX_ENTRIES) return;
    // Oldest first; re-inserted listings count as new.
    for (const oldest of this.listings.keys()) {
      if (this.total + entries.length <= MAX_ENTRIES) break;
      this.drop(oldest);
    }
    this.listings.set(path, { version, entries });
    this.total += entries.length;
  }

  private drop(path: string): void {
    this.total -= this.listings.get(path)?.entries.length ?? 0;
    this.listings.delete(path);
  }
}
