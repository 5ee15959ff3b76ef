/**
 * Open files: one real fd per FUSE handle, so I/O goes straight to the object that was opened
 * (positioned reads and writes, no path walk), also after it was unlinked or renamed away. Handle
 * numbers are never reused while mounted: a late request cannot reach a different file.
 */
import { closeSync, fdatasync, fstatSync, fsync, ftruncate, read, write } from 'node:fs';
import { promisify } from 'node:util';
import { fallocate } from '../layers/native.js';
import { fsError } from './errors.js';
import type { Attributes } from './overlay.js';
import { hasOtherNames, typeOf } from './entry.js';
import type { StatCache } from './stat-cache.js';

const readFd = promisify(read);
const writeFd = promisify(write);
const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);
const ftruncateFd = promisify(ftruncate);

/** The bit of a handle the binding may own (see `lend`); the addon tests it. */
const LENDABLE_HANDLE = 2 ** 52;
/** How long after a lendable open the files of a walk are worth sending with their real paths. */
const LENDING_WINDOW_MS = 2000;

interface Handle {
  fd: number;
  /** Inode number shown through the mount: kept even after the file is unlinked. */
  ino: number;
  /** The kernel may read and write `fd` itself, unseen (FUSE passthrough). */
  passthrough: boolean;
  /** A lower file opened read-only, which the binding may take over (`lend`). */
  lendable: boolean;
}

export class OpenFiles {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  /** volatile mounts: fsync returns at once, as the kernel's volatile option makes it. */
  ignoreSync = false;
  /** Files in the upper may be handed to the kernel for its own I/O (set when the binding can).
   * Never a lower file: a copy-up while it is open would leave the kernel's inode tied to it, and
   * the kernel maps a passed-through file's mmap onto its backing file, writable or not. */
  passthrough = false;
  /** Lower files opened read-only may be lent to the binding: set where the layers open them with
   * O_NOATIME (as root), so reading them changes nothing cached here. */
  lendsReads = false;
  private lastLendable = -Infinity;

  /** The stats that anything moving a file's attributes (size, times) makes stale. */
  constructor(private readonly stats: () => StatCache) {}

  /** Registers an open fd; returns its handle number. A file passed through has its size and
   * times changed unseen, so no stat is cached until it is released. */
  track(fd: number, ino: number, inUpper: boolean, readOnly = false): number {
    const lendable = this.lendsReads && readOnly && !inUpper;
    if (lendable) this.lastLendable = performance.now();
    const fh = (lendable ? LENDABLE_HANDLE : 0) + this.nextHandle++;
    const passthrough = this.passthrough && inUpper;
    if (passthrough) this.stats().suspend();
    this.handles.set(fh, { fd, ino, passthrough, lendable });
    return fh;
  }

  /** The fd the kernel may read and write directly, with the file's inode number, if this
   * handle may be passed through. */
  passedThrough(fh: number): { fd: number; ino: number } | undefined {
    const handle = this.handles.get(fh);
    return handle?.passthrough ? { fd: handle.fd, ino: handle.ino } : undefined;
  }

  /** Whether lower files are being opened for reading (grep, tar): a walk that only stats
   * (find, ls -l) has no use for their real paths (`Attributes.lower`), which cost to send. */
  lendingNow(): boolean {
    return performance.now() - this.lastLendable < LENDING_WINDOW_MS;
  }

  /** Hands a lendable handle, with its fd, to the binding, which then answers its reads, fstat,
   * fsync and release itself (no request reaches the ops). Undefined: it stays here. */
  lend(fh: number): { fd: number; ino: number } | undefined {
    const handle = this.handles.get(fh);
    if (!handle?.lendable) return undefined;
    this.handles.delete(fh);
    return { fd: handle.fd, ino: handle.ino };
  }

  private changed(): void {
    this.stats().changed();
  }

  /** Synchronous, like lstat in the layers: fstat(2) on an open fd waits for no I/O. */
  fgetattr(fh: number): Promise<Attributes> {
    return new Promise((resolve) => {
      const { fd, ino } = this.handle(fh);
      const stat = fstatSync(fd, { bigint: true });
      const nlink = Number(stat.nlink);
      resolve({ stat, ino, nlink, volatile: hasOtherNames(typeOf(stat), nlink) });
    });
  }

  // Reads move atime, writes size and mtime.
  async read(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    const { bytesRead } = await readFd(this.handle(fh).fd, buf, 0, length, position);
    this.changed();
    return bytesRead;
  }

  async write(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    const { bytesWritten } = await writeFd(this.handle(fh).fd, buf, 0, length, position);
    this.changed();
    return bytesWritten;
  }

  async fsync(fh: number, datasync: boolean): Promise<void> {
    const { fd } = this.handle(fh);
    if (this.ignoreSync) return;
    await (datasync ? fdatasyncFd(fd) : fsyncFd(fd));
  }

  /** fallocate(2): reserve or punch space (the file is in the upper if it was opened writable). */
  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    // Synchronous calls inside the executor: a failure rejects with its errno, never throws.
    return new Promise((resolve) => {
      fallocate(this.handle(fh).fd, mode, offset, length);
      this.changed();
      resolve();
    });
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    await ftruncateFd(this.handle(fh).fd, size);
    this.changed();
  }

  release(fh: number): Promise<void> {
    return new Promise((resolve) => {
      const { fd, passthrough } = this.handle(fh);
      this.handles.delete(fh);
      closeSync(fd); // close(2) on a local filesystem waits for no I/O: no threadpool hop
      if (passthrough) this.stats().resume();
      resolve();
    });
  }

  /** Closes every open file; for unmount. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.handles.keys()].map((fh) => this.release(fh)));
  }

  private handle(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw fsError('EBADF');
    return handle;
  }
}
