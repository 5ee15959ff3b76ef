/**
 * Inode numbers shown through the mount, as the kernel's overlayfs shows them: when every layer
 * lives on one filesystem, an object's real inode number; otherwise the real number with the
 * filesystem's index in the high bits (the kernel's xino), so numbers never collide. A copied-up
 * object keeps the number of its lower origin (read back from the origin xattr, so it survives
 * remounts), and a merged directory shows its top-most lower directory's number.
 * See native-notes/inodes.md for the guarantees that hold.
 */
import type { Stat } from '../layers/layer.js';

const FS_SHIFT = 2 ** 44;

export class InodeNumbers {
  /** Distinct st_dev of the layers, the upper's first: index 0 keeps real numbers. */
  private readonly filesystems: bigint[] = [];
  /** Upper real inode → number shown, for copy-ups whose origin could not be recorded. */
  private readonly copiedUp = new Map<bigint, number>();

  /** How numbers are made, in words. */
  policy(): string {
    const count = this.filesystems.length;
    const base = "a copied-up object keeps its origin's number (origin xattr)";
    return count <= 1
      ? `real inode numbers (one filesystem); ${base}`
      : `real numbers with the filesystem index above bit 44 (${count} filesystems, like xino); ${base}`;
  }

  /** Registers a layer's filesystem; call in stack order, the upper first. */
  register(stat: Stat): void {
    if (!this.filesystems.includes(stat.dev)) this.filesystems.push(stat.dev);
  }

  /** The number shown for a real object; exact below 2^53. */
  of(stat: Stat): number {
    return this.ofReal(stat.dev, stat.ino);
  }

  /** The number shown for real inode `ino` on filesystem `dev`. */
  ofReal(dev: bigint, ino: bigint): number {
    let index = this.filesystems.indexOf(dev);
    if (index < 0) index = this.filesystems.push(dev) - 1;
    return index * FS_SHIFT + Number(ino % BigInt(FS_SHIFT));
  }

  /** The number for an upper object: its origin's when it was copied up. */
  forUpper(stat: Stat, origin: Stat | undefined): number {
    return origin !== undefined ? this.of(origin) : this.forUpperReal(stat.dev, stat.ino);
  }

  /** The number for an upper object known to have no origin, from its real inode alone. */
  forUpperReal(dev: bigint, ino: bigint): number {
    return this.copiedUp.get(ino) ?? this.ofReal(dev, ino);
  }

  rememberCopyUp(upperStat: Stat, ino: number): void {
    this.copiedUp.set(upperStat.ino, ino);
  }
}
