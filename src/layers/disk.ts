/**
 * Layers over real directories. Every path is built from the layer root plus a relative byte
 * string and handed to the kernel as a Buffer, so names that are not UTF-8 stay exact.
 */
import { constants as fsConstants, open as openCb, promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import type { Dirent } from 'node:fs';
import * as native from './native.js';
import type { DirEntry, Owner, ReadableLayer, Stat, WritableLayer } from './layer.js';

/** fs.promises.open wraps the fd in a FileHandle; FUSE handles want the raw fd. */
const openFd = promisify(openCb);

const { S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } = fsConstants;

function direntType(entry: Dirent<Buffer>): number {
  if (entry.isFile()) return S_IFREG;
  if (entry.isDirectory()) return S_IFDIR;
  if (entry.isSymbolicLink()) return S_IFLNK;
  if (entry.isCharacterDevice()) return S_IFCHR;
  if (entry.isBlockDevice()) return S_IFBLK;
  if (entry.isFIFO()) return S_IFIFO;
  if (entry.isSocket()) return S_IFSOCK;
  return 0;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class DiskLayer implements ReadableLayer {
  private readonly prefix: Buffer;

  constructor(
    readonly index: number,
    readonly root: string,
  ) {
    this.prefix = Buffer.from(root.endsWith('/') ? root : root + '/', 'latin1');
  }

  absolute(rel: string): Buffer {
    return rel === ''
      ? this.prefix.subarray(0, this.prefix.length - 1)
      : Buffer.concat([this.prefix, Buffer.from(rel, 'latin1')]);
  }

  async lstat(rel: string): Promise<Stat | undefined> {
    try {
      return await fsp.lstat(this.absolute(rel), { bigint: true });
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async readdir(rel: string): Promise<DirEntry[]> {
    const entries = await fsp.readdir(this.absolute(rel), {
      withFileTypes: true,
      encoding: 'buffer',
    });
    return entries.map((e) => ({ name: e.name.toString('latin1'), type: direntType(e) }));
  }

  async readlink(rel: string): Promise<string> {
    const target = await fsp.readlink(this.absolute(rel), { encoding: 'buffer' });
    return target.toString('latin1');
  }

  getxattr(rel: string, name: string): Buffer | undefined {
    return native.getxattr(this.absolute(rel), name);
  }

  listxattr(rel: string): string[] {
    return native.listxattr(this.absolute(rel));
  }

  open(rel: string, flags: number): Promise<number> {
    return openFd(this.absolute(rel), flags | fsConstants.O_NOFOLLOW);
  }
}

export class WritableDiskLayer extends DiskLayer implements WritableLayer {
  create(rel: string, flags: number, mode: number): Promise<number> {
    return openFd(this.absolute(rel), flags | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, mode);
  }

  mkdir(rel: string, mode: number): Promise<void> {
    return fsp.mkdir(this.absolute(rel), { mode });
  }

  mknod(rel: string, mode: number, rdev: number): void {
    native.mknod(this.absolute(rel), mode, rdev);
  }

  symlink(target: string, rel: string): Promise<void> {
    return fsp.symlink(Buffer.from(target, 'latin1'), this.absolute(rel));
  }

  link(existing: string, rel: string, fromLayer: WritableLayer = this): Promise<void> {
    return fsp.link(fromLayer.absolute(existing), this.absolute(rel));
  }

  unlink(rel: string): Promise<void> {
    return fsp.unlink(this.absolute(rel));
  }

  rmdir(rel: string): Promise<void> {
    return fsp.rmdir(this.absolute(rel));
  }

  chmod(rel: string, mode: number): Promise<void> {
    return fsp.chmod(this.absolute(rel), mode);
  }

  chown(rel: string, owner: Owner): Promise<void> {
    return fsp.lchown(this.absolute(rel), owner.uid, owner.gid);
  }

  truncate(rel: string, size: number): Promise<void> {
    return fsp.truncate(this.absolute(rel), size);
  }

  utimens(rel: string, atime: native.Timespec, mtime: native.Timespec): void {
    native.utimens(this.absolute(rel), atime, mtime);
  }

  setxattr(rel: string, name: string, value: Buffer, flags = 0): void {
    native.setxattr(this.absolute(rel), name, value, flags);
  }

  removexattr(rel: string, name: string): void {
    native.removexattr(this.absolute(rel), name);
  }

  rename(from: string, to: string, flags = 0, fromLayer: WritableLayer = this): void {
    native.rename(fromLayer.absolute(from), this.absolute(to), flags);
  }
}
