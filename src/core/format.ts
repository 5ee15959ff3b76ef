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
import { fsError } from './errors.js';
import { parentOf } from './paths.js';
import type { FileHandle, ReadableLayer, Stat, WritableLayer } from '../layers/layer.js';

/** The overlay's xattr namespace as root uses it (the kernel's default). */
export const TRUSTED_PREFIX = 'trusted.overlay.';
/** The overlay's xattr namespace without root (the kernel's `userxattr` option). */
export const USER_PREFIX = 'user.overlay.';

const WHITEOUT_MODE = constants.S_IFCHR;
const OPAQUE_VALUE = Buffer.from('y');
const IMPURE_VALUE = Buffer.from('y');

/**
 * The origin xattr holds the kernel's struct ovl_fb: version 0, magic 0xfb, total length, flags,
 * handle type, the filesystem's uuid (null when every layer shares one filesystem, as the kernel
 * writes it then), then the file handle. Flags 0: a little-endian handle (this machine).
 */
const FB_HEADER = 21;
/** On the upper's root: the namespace its overlay xattrs use (a user xattr, readable rootless). */
const FORMAT_RECORD = 'user.unionmount.format';
const FB_MAGIC = 0xfb;
const NULL_UUID = Buffer.alloc(16);

/** Where a possible whiteout is; see `OverlayFormat.isWhiteout`. */
export interface WhiteoutPlace {
  layer: ReadableLayer;
  rel: string;
  inXWhiteoutDir?: () => boolean;
}

/** Every question and change about the on-disk format: whiteouts, opaque and redirect xattrs. */
export class OverlayFormat {
  readonly opaqueXattr: string;
  readonly redirectXattr: string;
  readonly originXattr: string;
  readonly whiteoutXattr: string;
  readonly impureXattr: string;
  private readonly escapePrefix: string;

  constructor(readonly xattrPrefix: string = TRUSTED_PREFIX) {
    this.opaqueXattr = `${xattrPrefix}opaque`;
    this.redirectXattr = `${xattrPrefix}redirect`;
    this.originXattr = `${xattrPrefix}origin`;
    this.whiteoutXattr = `${xattrPrefix}whiteout`;
    this.impureXattr = `${xattrPrefix}impure`;
    this.escapePrefix = `${xattrPrefix}overlay.`;
  }

  /**
   * A character device 0/0; or, given where it is, the kernel's other form (Linux 6.7+): an empty
   * file with `<prefix>whiteout`, inside a directory whose opaque xattr is "x". `inXWhiteoutDir`
   * may answer the last question from what the caller remembers of the parent.
   */
  isWhiteout(stat: Stat, at?: WhiteoutPlace): boolean {
    if ((Number(stat.mode) & constants.S_IFMT) === WHITEOUT_MODE) return stat.rdev === 0n;
    if (at === undefined || !stat.isFile() || stat.size !== 0n) return false;
    const { layer, rel } = at;
    const inDir = at.inXWhiteoutDir?.() ?? this.holdsXWhiteouts(layer, parentOf(rel));
    return inDir && layer.getxattr(rel, this.whiteoutXattr) !== undefined;
  }

  /** Whether directory `rel` may hold xattr whiteouts (its opaque xattr is "x"). */
  holdsXWhiteouts(layer: ReadableLayer, rel: string): boolean {
    return layer.getxattr(rel, this.opaqueXattr)?.toString('latin1') === 'x';
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
    if (value === undefined) return undefined;
    const parts = value.startsWith('/') ? value.slice(1).split('/') : [value];
    const valid = parts.every((part) => part !== '' && part !== '.' && part !== '..');
    // The kernel refuses to look such a directory up at all (ovl_check_redirect: EINVAL).
    if (!valid || value.includes('\0') || (!value.startsWith('/') && value.includes('/')))
      throw fsError('EINVAL', `invalid redirect ${JSON.stringify(value)} at ${rel}`);
    return value;
  }

  setRedirect(layer: WritableLayer, rel: string, value: string): void {
    layer.setxattr(rel, this.redirectXattr, Buffer.from(value, 'latin1'));
  }

  /** The lower object a copied-up object came from, as a file handle (kernel ovl_check_origin). */
  originOf(layer: ReadableLayer, rel: string): FileHandle | undefined {
    const fb = layer.getxattr(rel, this.originXattr);
    if (fb === undefined || fb.length < FB_HEADER || fb[0] !== 0 || fb[1] !== FB_MAGIC) return;
    if (fb[2] !== fb.length || fb[3] !== 0) return undefined;
    return { type: fb[4]!, bytes: Buffer.from(fb.subarray(FB_HEADER)) };
  }

  setOrigin(layer: WritableLayer, rel: string, handle: FileHandle): void {
    const header = Buffer.from([0, FB_MAGIC, FB_HEADER + handle.bytes.length, 0, handle.type]);
    layer.setxattr(rel, this.originXattr, Buffer.concat([header, NULL_UUID, handle.bytes]));
  }

  /**
   * Whether an upper directory may hold objects with an origin (kernel ovl_set_impure: set before a
   * copied-up object is placed or moved into it). Only an impure directory's listing needs each
   * upper name's origin for its d_ino.
   */
  isImpure(layer: ReadableLayer, rel: string): boolean {
    return layer.getxattr(rel, this.impureXattr) !== undefined;
  }

  markImpure(layer: WritableLayer, rel: string): void {
    if (!this.isImpure(layer, rel)) layer.setxattr(rel, this.impureXattr, IMPURE_VALUE);
  }

  /** The overlay's own xattrs: its prefix, except the escaped names below. */
  isPrivateXattr(name: string): boolean {
    if (this.isFormatRecord(name)) return true;
    return name.startsWith(this.xattrPrefix) && !name.startsWith(this.escapePrefix);
  }

  /** The record of claim(): never shown or settable through the mount. */
  isFormatRecord(name: string): boolean {
    return name === FORMAT_RECORD;
  }

  /** 'trusted' (root mounts) or 'user' (rootless: the kernel's userxattr). */
  get namespace(): string {
    return this.xattrPrefix.slice(0, this.xattrPrefix.indexOf('.'));
  }

  /**
   * Which of the two formats an upper was written in, recorded on its root at the first mount:
   * an upper is never mixed between them. Returns the recorded namespace when it differs.
   */
  claim(upper: WritableLayer): string | undefined {
    const recorded = upper.getxattr('', FORMAT_RECORD)?.toString('latin1');
    if (recorded !== undefined) return recorded === this.namespace ? undefined : recorded;
    try {
      upper.setxattr('', FORMAT_RECORD, Buffer.from(this.namespace));
    } catch (err) {
      // A filesystem without user xattrs cannot hold the record; the mount still works.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
    }
    return undefined;
  }

  /**
   * The name on disk for a name given through the mount. As the kernel does since 6.7 (for nested
   * overlays), `<prefix>X` set through the mount is stored escaped as `<prefix>overlay.X`, so the
   * mount's own markers can be neither read nor forged.
   */
  escapeXattr(name: string): string {
    if (!name.startsWith(this.xattrPrefix)) return name;
    return this.escapePrefix + name.slice(this.xattrPrefix.length);
  }

  /** The name shown through the mount for a name on disk; undefined for a private one. */
  unescapeXattr(name: string): string | undefined {
    if (!name.startsWith(this.xattrPrefix)) return name;
    if (!name.startsWith(this.escapePrefix)) return undefined;
    return this.xattrPrefix + name.slice(this.escapePrefix.length);
  }

  makeWhiteout(layer: WritableLayer, rel: string): void {
    layer.mknod(rel, WHITEOUT_MODE, 0);
  }

  markOpaque(layer: WritableLayer, rel: string): void {
    layer.setxattr(rel, this.opaqueXattr, OPAQUE_VALUE);
  }
}
