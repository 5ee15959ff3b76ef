/**
 * The kernel overlayfs on-disk format, and the only module that spells it out:
 * - a whiteout is a character device 0/0 at the deleted name;
 * - an opaque directory carries `<prefix>opaque` = "y" (nothing below it is merged);
 * - a directory renamed away from its lower copies carries `<prefix>redirect` = where it came from;
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
  readonly redirectXattr: string;

  constructor(readonly xattrPrefix: string = TRUSTED_PREFIX) {
    this.opaqueXattr = `${xattrPrefix}opaque`;
    this.redirectXattr = `${xattrPrefix}redirect`;
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

  /**
   * Where a renamed directory came from (redirect_dir): an absolute path from the layer roots
   * ('/a/b') or a name in the same parent ('b'). A value the kernel would not accept (empty, `..`,
   * a relative one with a slash) is ignored.
   */
  redirectOf(layer: ReadableLayer, rel: string): string | undefined {
    const value = layer.getxattr(rel, this.redirectXattr)?.toString('latin1');
    if (value === undefined || value === '' || value.includes('\0')) return undefined;
    const parts = value.startsWith('/') ? value.slice(1).split('/') : [value];
    const valid = parts.every((part) => part !== '' && part !== '.' && part !== '..');
    return valid && (value.startsWith('/') || !value.includes('/')) ? value : undefined;
  }

  setRedirect(layer: WritableLayer, rel: string, value: string): void {
    layer.setxattr(rel, this.redirectXattr, Buffer.from(value, 'latin1'));
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
