/**
 * Inode numbers shown through the mount. Like the kernel's xino, a layer's real inode number is
 * combined with the layer's index, so numbers from different layers never collide. An object keeps
 * its number when it is copied up (the upper copy is mapped back to the lower original), and a
 * merged directory shows the number of its top-most lower directory, as the kernel shows the origin.
 * See native-notes/inodes.md for the guarantees that hold.
 */
import type { Stat } from '../layers/layer.js';

const LAYER_SHIFT = 2 ** 44;

export class InodeNumbers {
  /** Upper real inode → number shown, for objects copied up during this mount. */
  private readonly copiedUp = new Map<bigint, number>();

  /** The number for an object of layer `index`; exact below 2^53 (512 layers of 2^44 inodes). */
  fold(index: number, stat: Stat): number {
    return index * LAYER_SHIFT + Number(stat.ino % BigInt(LAYER_SHIFT));
  }

  /** The number for an upper object, keeping the number of what it was copied up from. */
  forUpper(stat: Stat): number {
    return this.copiedUp.get(stat.ino) ?? this.fold(0, stat);
  }

  rememberCopyUp(upperStat: Stat, ino: number): void {
    this.copiedUp.set(upperStat.ino, ino);
  }

  forget(upperStat: Stat): void {
    this.copiedUp.delete(upperStat.ino);
  }
}
