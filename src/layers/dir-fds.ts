/**
 * Open directory fds of one layer, kept for reuse (least recently used first out), so that a name
 * below the top level costs no openat2 and close per call (a readdir of 2000 names makes 2000
 * lookups in the same directory). An fd follows its directory when it moves, so the owner calls
 * `forget()` after anything that renames or removes a directory; an fd in use is closed only when
 * its last user is done. With a limit of 0 nothing is kept.
 */
export interface DirSlot {
  readonly fd: number;
  users: number;
  dropped: boolean;
}

export class DirFds {
  private readonly slots = new Map<string, DirSlot>();

  constructor(
    private readonly limit: number,
    private readonly close: (fd: number) => void,
  ) {}

  /** The directory `rel`, open; give it back with `release`. */
  acquire(rel: string, open: () => number): DirSlot {
    const kept = this.slots.get(rel);
    if (kept !== undefined) {
      this.slots.delete(rel); // to the back: most recently used
      this.slots.set(rel, kept);
      kept.users++;
      return kept;
    }
    const slot: DirSlot = { fd: open(), users: 1, dropped: this.limit === 0 };
    if (this.limit > 0) {
      this.slots.set(rel, slot);
      if (this.slots.size > this.limit) this.drop(this.slots.keys().next().value!);
    }
    return slot;
  }

  release(slot: DirSlot): void {
    slot.users--;
    if (slot.dropped && slot.users === 0) this.close(slot.fd);
  }

  /** Directories moved or went away: no kept fd may be used again. */
  forget(): void {
    for (const rel of [...this.slots.keys()]) this.drop(rel);
  }

  private drop(rel: string): void {
    const slot = this.slots.get(rel)!;
    this.slots.delete(rel);
    slot.dropped = true;
    if (slot.users === 0) this.close(slot.fd);
  }
}
