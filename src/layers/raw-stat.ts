/**
 * Attributes read by fstatat(2) (native.ts), shaped as Node's BigIntStats, which is what the
 * layer interface promises. Node's lstat makes four Dates per call and takes a path through
 * /proc/self/fd; a metadata walk makes one per name, so this one keeps the integers and makes a
 * Date only when asked.
 */
import { constants, type BigIntStats } from 'node:fs';

const MS = 1_000_000n;
const NS = 1_000_000_000n;

/** struct stat of x86_64 Linux, whose offsets the constructor reads (other layouts: lstatSync). */
export const STAT_SIZE = 144;
export const STAT_LAYOUT_KNOWN = process.arch === 'x64';

export class RawStat implements BigIntStats {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly nlink: bigint;
  readonly mode: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly blksize: bigint;
  readonly blocks: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** Linux's struct stat has no birth time: 0, as Node reports it on filesystems without one. */
  readonly birthtimeNs = 0n;

  constructor(b: Buffer) {
    this.dev = b.readBigUInt64LE(0);
    this.ino = b.readBigUInt64LE(8);
    this.nlink = b.readBigUInt64LE(16);
    this.mode = BigInt(b.readUInt32LE(24));
    this.uid = BigInt(b.readUInt32LE(28));
    this.gid = BigInt(b.readUInt32LE(32));
    this.rdev = b.readBigUInt64LE(40);
    this.size = b.readBigInt64LE(48);
    this.blksize = b.readBigInt64LE(56);
    this.blocks = b.readBigInt64LE(64);
    this.atimeNs = b.readBigInt64LE(72) * NS + b.readBigInt64LE(80);
    this.mtimeNs = b.readBigInt64LE(88) * NS + b.readBigInt64LE(96);
    this.ctimeNs = b.readBigInt64LE(104) * NS + b.readBigInt64LE(112);
  }

  get atimeMs(): bigint {
    return this.atimeNs / MS;
  }
  get mtimeMs(): bigint {
    return this.mtimeNs / MS;
  }
  get ctimeMs(): bigint {
    return this.ctimeNs / MS;
  }
  get birthtimeMs(): bigint {
    return 0n;
  }
  get atime(): Date {
    return new Date(Number(this.atimeMs));
  }
  get mtime(): Date {
    return new Date(Number(this.mtimeMs));
  }
  get ctime(): Date {
    return new Date(Number(this.ctimeMs));
  }
  get birthtime(): Date {
    return new Date(0);
  }

  private is(type: number): boolean {
    return (Number(this.mode) & constants.S_IFMT) === type;
  }
  isFile(): boolean {
    return this.is(constants.S_IFREG);
  }
  isDirectory(): boolean {
    return this.is(constants.S_IFDIR);
  }
  isSymbolicLink(): boolean {
    return this.is(constants.S_IFLNK);
  }
  isCharacterDevice(): boolean {
    return this.is(constants.S_IFCHR);
  }
  isBlockDevice(): boolean {
    return this.is(constants.S_IFBLK);
  }
  isFIFO(): boolean {
    return this.is(constants.S_IFIFO);
  }
  isSocket(): boolean {
    return this.is(constants.S_IFSOCK);
  }
}
