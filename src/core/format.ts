/**
 * The kernel overlayfs on-disk format, and the only module that spells it out:
 * - a whiteout is a character device 0/0 at the deleted name;
 * - an opaque directory carries `<prefix>opaque` = "y" (nothing below it is merged);
 * - the overlay's own xattrs (`trusted.overlay.*`, or `user.overlay.*` with userxattr) are private:
 *   never shown through the mount, never copied up, never settable through it.
 * See native-notes/format.md for what the kernel does with each.
 */
import { constants } from 'node:fs';
import type { ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';

export const TRUSTED_PREFIX = 'trusted.overlay.';
export const USER_PREFIX = 'user.overlay.';

const WHITEOUT_MODE = constants.S_IFCHR;
const OPAQUE_VALUE = Buffer.from('y');

export class OverlayFormat {
  readonly opaqueXattr: string;

  constructor(readonly xattrPrefix: string = TRUSTED_PREFIX) {
    this.opaqueXattr = `${xattrPrefix}opaque`;
  }

  isWhiteout(stat: Stat): boolean {
    return (Number(stat.mode) & constants.S_IFMT) === WHITEOUT_MODE && stat.rdev === 0n;
  }

  /** A whiteout the user may not forge: mknod of a 0/0 character device. */
  isWhiteoutRequest(mode: number, rdev: number): boolean {
    return (mode & constants.S_IFMT) === WHITEOUT_MODE && rdev === 0;
  }

  isOpaque(layer: ReadableLayer, rel: string): boolean {
    return layer.getxattr(rel, this.opaqueXattr)?.equals(OPAQUE_VALUE) ?? false;
  }

  isPrivateXattr(name: string): boolean {
    return name.startsWith(this.xattrPrefix);
  }

  makeWhiteout(layer: WritableLayer, rel: string): void {
    layer.mknod(rel, WHITEOUT_MODE, 0);
  }

  markOpaque(layer: WritableLayer, rel: string): void {
    layer.setxattr(rel, this.opaqueXattr, OPAQUE_VALUE);
  }
}
