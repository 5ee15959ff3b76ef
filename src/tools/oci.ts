/**
 * `import` and `export`: images and layers in the Docker/OCI tar spelling, converted to and from
 * the kernel's format at the boundary (`.wh.NAME` <-> a 0/0 character device at NAME,
 * `.wh..wh..opq` <-> the opaque xattr on its directory).
 *
 * Import reads a `docker save` tarball, an OCI image layout (directory or tar) or a single layer
 * tarball, gzip-compressed or not. Entry names are checked before anything is written (no
 * absolute names, no `..`, nothing written through a symlink, hard links only to names inside
 * the layer), each layer blob is checked against its digest and each uncompressed layer against
 * the config's diff_ids, and the layers appear in DIR only once all of them are complete.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createReadStream,
  existsSync,
  fstatSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fsp,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { type Entry, isDir } from '../core/entry.js';
import { OverlayFormat } from '../core/format.js';
import { join, nameOf, parentOf } from '../core/paths.js';
import { UnionmountError } from '../errors.js';
import { WritableDiskLayer } from '../layers/disk.js';
import type { ReadableLayer, Stat } from '../layers/layer.js';
import { timespec } from '../layers/native.js';
import { buildDirectory, type Progress } from './copy.js';
import { openStack, type Stack, walkLayer, walkMerged } from './stack.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

// ---- import -----------------------------------------------------------------------------------

export interface ImportedImage {
  /** Layer directories, bottom first. */
  layers: string[];
  /** The `--lower` string that mounts the image: top layer first. */
  lower: string;
  /** sha256 of each uncompressed layer (its diff_id), bottom first. */
  diffIds: string[];
}

interface LayerSource {
  /** The blob or layer tar on disk. */
  file: string;
  /** For messages: the name inside the image. */
  name: string;
  /** Digest of the blob as stored ('sha256:...'), when the image says. */
  digest?: string;
  /** Digest of the uncompressed tar, when the image's config says. */
  diffId?: string;
}

export async function importImage(
  image: string,
  dir: string,
  options: { onProgress?: Progress } = {},
): Promise<ImportedImage> {
  if (!existsSync(image)) throw new UnionmountError(`image ${image}: no such file or directory`, 2);
  const diffIds: string[] = [];
  let count = 0;
  await buildDirectory(resolve(dir), 'image directory', [], async (staging) => {
    const unpacked = joinPath(staging, '.image');
    const sources = await layerSources(image, unpacked);
    for (const [i, source] of sources.entries()) {
      diffIds.push(await unpackLayer(source, joinPath(staging, `layer${i + 1}`)));
      options.onProgress?.(i + 1, sources.length);
    }
    rmSync(unpacked, { recursive: true, force: true });
    count = sources.length;
  });
  const layers = Array.from({ length: count }, (_, i) => joinPath(dir, `layer${i + 1}`));
  return { layers, lower: [...layers].reverse().join(':'), diffIds };
}

/** The image's layers, bottom first, from its manifest (or the file itself for a layer tar). */
async function layerSources(image: string, unpacked: string): Promise<LayerSource[]> {
  let root = image;
  if (!statSync(image).isDirectory()) {
    const names = await listTar(image);
    if (!names.includes('manifest.json') && !names.includes('index.json'))
      return [{ file: image, name: image }];
    for (const name of names) checkName(name, `image ${image}`);
    mkdirSync(unpacked);
    await tar.x({ file: image, cwd: unpacked, strict: true });
    root = unpacked;
  }
  const blob = (name: string): string => inside(root, name, image);
  const json = (name: string): unknown => JSON.parse(readFileSync(blob(name), 'utf8'));
  if (existsSync(joinPath(root, 'manifest.json'))) {
    const [manifest] = json('manifest.json') as { Config: string; Layers: string[] }[];
    if (manifest === undefined) throw new UnionmountError(`image ${image}: empty manifest.json`, 2);
    const diffIds = (json(manifest.Config) as Config).rootfs?.diff_ids ?? [];
    return manifest.Layers.map((name, i) => ({
      file: blob(name),
      name,
      digest: /^blobs\/sha256\/[0-9a-f]{64}$/.test(name) ? `sha256:${name.slice(13)}` : undefined,
      diffId: diffIds[i],
    }));
  }
  const verifiedJson = (digest: string): unknown => json(verified(byDigest(digest), digest, blob));
  let manifest = json('index.json') as OciManifest;
  // An index points at a manifest (possibly through nested indexes): take the first.
  while (manifest.manifests !== undefined) {
    const first = manifest.manifests[0];
    if (first === undefined)
      throw new UnionmountError(`image ${image}: an index with no manifest`, 2);
    manifest = verifiedJson(first.digest) as OciManifest;
  }
  const config = manifest.config ? (verifiedJson(manifest.config.digest) as Config) : {};
  const diffIds = config.rootfs?.diff_ids ?? [];
  return (manifest.layers ?? []).map((layer, i) => ({
    file: blob(byDigest(layer.digest)),
    name: byDigest(layer.digest),
    digest: layer.digest,
    diffId: diffIds[i],
  }));
}

interface Config {
  rootfs?: { diff_ids?: string[] };
}

interface OciManifest {
  manifests?: { digest: string }[];
  config?: { digest: string };
  layers?: { digest: string }[];
}

const byDigest = (digest: string): string => `blobs/${digest.replace(':', '/')}`;

/** A small JSON blob, checked against its digest before it is trusted. */
function verified(name: string, digest: string, blob: (name: string) => string): string {
  const actual = `sha256:${createHash('sha256')
    .update(readFileSync(blob(name)))
    .digest('hex')}`;
  if (actual !== digest)
    throw new UnionmountError(`${name}: digest mismatch: expected ${digest}, got ${actual}`);
  return name;
}

/** `name` inside `root`, following no link out of it. */
function inside(root: string, name: string, image: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(root, name));
  } catch {
    throw new UnionmountError(`image ${image}: ${name}: missing`, 2);
  }
  if (!real.startsWith(realpathSync(root) + '/'))
    throw new UnionmountError(`image ${image}: ${name}: outside the image`, 2);
  return real;
}

async function listTar(file: string): Promise<string[]> {
  const names: string[] = [];
  await tar.t({ file, onReadEntry: (entry) => names.push(entry.path.replace(/^(\.\/)+/, '')) });
  return names;
}

/** Unpacks one layer into `dir` (kernel format); returns its diff_id after checking digests. */
async function unpackLayer(source: LayerSource, dir: string): Promise<string> {
  mkdirSync(dir, { mode: 0o755 });
  const stored = createHash('sha256');
  const plain = createHash('sha256');
  const layer = new WritableDiskLayer(0, dir);
  const unpacker = new LayerUnpacker(layer, new OverlayFormat(), source.name);
  const parser = new tar.Parser({ strict: true });
  parser.on('entry', (entry: tar.ReadEntry) => unpacker.apply(entry));
  const gzip = await isGzip(source.file);
  await pipeline(
    createReadStream(source.file),
    tap(stored),
    gzip ? createGunzip() : new PassThrough(),
    tap(plain),
    parser,
  );
  unpacker.finish();
  checkDigest(source, 'digest', `sha256:${stored.digest('hex')}`);
  const diffId = `sha256:${plain.digest('hex')}`;
  checkDigest(source, 'diffId', diffId);
  return diffId;
}

function checkDigest(source: LayerSource, which: 'digest' | 'diffId', actual: string): void {
  const expected = source[which];
  if (expected !== undefined && expected !== actual)
    throw new UnionmountError(
      `layer ${source.name}: ${which === 'digest' ? 'digest' : 'diff_id'} mismatch: expected ${expected}, got ${actual}`,
    );
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await fsp.open(file);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

const tap = (hash: Hash): Transform =>
  new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });

/** A relative name from an archive; refuses absolute names and `..` components. */
function checkName(name: string, where: string): string {
  const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (name.startsWith('/') || clean.split('/').includes('..'))
    throw new UnionmountError(
      `${where}: entry ${JSON.stringify(name)}: path escapes the target directory`,
      2,
    );
  return clean === '.' ? '' : clean;
}

/** Writes tar entries into a layer directory in the kernel's format, synchronously and in order. */
class LayerUnpacker {
  private readonly dirs = new Map<string, Date | undefined>();
  private failure: Error | undefined;

  constructor(
    private readonly layer: WritableDiskLayer,
    private readonly format: OverlayFormat,
    private readonly name: string,
  ) {}

  apply(entry: tar.ReadEntry): void {
    if (this.failure !== undefined) return void entry.resume();
    this.guard(entry, () => this.write(entry));
  }

  /** Directory times, deepest first; throws the first failure of the layer. */
  finish(): void {
    if (this.failure !== undefined) throw this.failure;
    for (const [rel, mtime] of [...this.dirs].reverse()) if (mtime) this.setTimes(rel, mtime);
  }

  /** The first failure stops the layer: later entries are read past, never written. */
  private guard(entry: tar.ReadEntry, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      entry.resume();
    }
  }

  private write(entry: tar.ReadEntry): void {
    const rel = this.relative(entry.path);
    const name = nameOf(rel);
    this.parents(rel, entry.path);
    if (name === OPAQUE) {
      entry.resume();
      return this.format.markOpaque(this.layer, parentOf(rel));
    }
    if (name.startsWith(WHITEOUT)) {
      entry.resume();
      const hidden = join(parentOf(rel), name.slice(WHITEOUT.length));
      this.remove(hidden);
      return this.format.makeWhiteout(this.layer, hidden);
    }
    if (entry.type !== 'Directory' || !this.isDir(rel)) this.remove(rel);
    this.create(entry, rel);
  }

  /** The entry's name as a layer path (bytes as latin1 chars, like the core's paths). */
  private relative(name: string): string {
    return Buffer.from(checkName(name, `layer ${this.name}`), 'utf8').toString('latin1');
  }

  private create(entry: tar.ReadEntry, rel: string): void {
    const abs = this.layer.absolute(rel);
    const mode = (entry.mode ?? 0o644) & 0o7777;
    switch (entry.type) {
      case 'Directory':
        if (!this.isDir(rel)) mkdirSync(abs, { mode: 0o755 });
        this.dirs.set(rel, entry.mtime);
        entry.resume();
        return this.attributes(entry, rel, mode, false);
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        const fd = openSync(abs, 'wx', 0o600);
        entry.on('data', (chunk: Buffer) => writeSync(fd, chunk));
        entry.on('end', () =>
          this.guard(entry, () => {
            closeSync(fd);
            this.attributes(entry, rel, mode, true);
          }),
        );
        return;
      }
      case 'SymbolicLink':
        entry.resume();
        symlinkSync(Buffer.from(entry.linkpath ?? ''), abs);
        return this.attributes(entry, rel, mode, true);
      case 'Link': {
        entry.resume();
        const existing = this.relative(entry.linkpath ?? '');
        this.parents(existing, entry.linkpath ?? '');
        return linkSync(this.layer.absolute(existing), abs);
      }
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO': {
        entry.resume();
        const type = { CharacterDevice: 0o020000, BlockDevice: 0o060000, FIFO: 0o010000 }[
          entry.type
        ];
        const { devmaj, devmin } = entry.header;
        this.layer.mknod(rel, type | mode, (devmaj << 8) | devmin);
        return this.attributes(entry, rel, mode, true);
      }
      default:
        entry.resume(); // pax and GNU metadata are folded into entries by the parser
    }
  }

  private attributes(entry: tar.ReadEntry, rel: string, mode: number, times: boolean): void {
    const abs = this.layer.absolute(rel);
    lchownSync(abs, entry.uid ?? 0, entry.gid ?? 0);
    // chown clears set-id bits, so the mode comes after it; symlinks have no mode of their own.
    if (!lstatSync(abs).isSymbolicLink()) chmodSync(abs, mode);
    if (times && entry.mtime !== undefined) this.setTimes(rel, entry.mtime);
  }

  private setTimes(rel: string, mtime: Date): void {
    const time = timespec(BigInt(mtime.getTime()) * 1_000_000n);
    this.layer.utimens(rel, time, time);
  }

  /** Creates missing parents; refuses to write through a symlink or a non-directory. */
  private parents(rel: string, shown: string): void {
    const parts = rel.split('/').slice(0, -1);
    for (let depth = 1; depth <= parts.length; depth++) {
      const dir = parts.slice(0, depth).join('/');
      const stat = lstatOrUndefined(this.layer.absolute(dir));
      if (stat === undefined) mkdirSync(this.layer.absolute(dir), { mode: 0o755 });
      else if (!stat.isDirectory())
        throw new UnionmountError(
          `layer ${this.name}: entry ${JSON.stringify(shown)}: goes through ${stat.isSymbolicLink() ? 'a symlink' : 'a non-directory'} at ${dir}`,
          2,
        );
    }
  }

  private isDir(rel: string): boolean {
    return lstatOrUndefined(this.layer.absolute(rel))?.isDirectory() ?? false;
  }

  private remove(rel: string): void {
    if (rel !== '') rmSync(this.layer.absolute(rel), { recursive: true, force: true });
  }
}

function lstatOrUndefined(path: Buffer): import('node:fs').Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

// ---- export -----------------------------------------------------------------------------------

export interface ExportedLayer {
  /** sha256 of the (uncompressed) layer tarball: its OCI digest and diff_id. */
  digest: string;
  bytes: number;
  entries: number;
}

export interface ExportOptions {
  /** One mtime for every entry, for byte-identical exports of the same tree. */
  mtime?: Date;
  onProgress?: Progress;
}

/**
 * The upper as an OCI layer tarball, entries in byte order of their names. The lowers decide what
 * needs spelling out: a whiteout or opaque directory that hides nothing below is left out (or
 * exported as a plain directory), and a directory renamed with a redirect, which OCI cannot
 * express, is exported with its whole merged content.
 */
export async function exportLayer(
  lowers: readonly string[],
  upper: string,
  out: string,
  options: ExportOptions = {},
): Promise<ExportedLayer> {
  const after = openStack(lowers, upper);
  const before = openStack(lowers);
  const layer = after.upper!;
  const paths: string[] = [];
  for await (const rel of walkLayer(layer)) paths.push(rel);
  const partial = `${out}.partial-${process.pid}`;
  const fd = openSync(partial, 'wx', 0o644);
  try {
    const writer = new TarWriter(fd, options.mtime);
    let redirected: string | undefined;
    for (const [i, rel] of paths.entries()) {
      options.onProgress?.(i + 1, paths.length);
      if (redirected !== undefined && rel.startsWith(redirected + '/')) continue;
      const stat = (await layer.lstat(rel))!;
      const below = await before.merged.lookup.find(rel);
      if (after.format.isWhiteout(stat)) {
        if (below !== undefined) writer.marker(join(parentOf(rel), WHITEOUT + nameOf(rel)), stat);
        continue;
      }
      await writer.object(layer, rel, rel, stat);
      if (!stat.isDirectory()) continue;
      const redirect = after.format.redirectOf(layer, rel) !== undefined;
      if ((redirect || after.format.isOpaque(layer, rel)) && below !== undefined && isDir(below))
        writer.marker(join(rel, OPAQUE), stat);
      if (redirect) {
        redirected = rel;
        await exportMerged(after, rel, writer);
      }
    }
    writer.end();
    closeSync(fd);
    renameSync(partial, out);
    return writer.result();
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw err;
  }
}

/** Everything the merged view shows below `rel`, from whichever layer serves it. */
async function exportMerged(stack: Stack, rel: string, writer: TarWriter): Promise<void> {
  const dir = (await stack.merged.lookup.find(rel)) as Entry;
  for await (const child of walkMerged(stack, dir)) {
    const { layer, rel: at } = child.stack[0]!;
    await writer.object(layer, at, child.path, (await layer.lstat(at))!);
  }
}

const TYPES: [(s: Stat) => boolean, tar.HeaderData['type']][] = [
  [(s) => s.isDirectory(), 'Directory'],
  [(s) => s.isFile(), 'File'],
  [(s) => s.isSymbolicLink(), 'SymbolicLink'],
  [(s) => s.isCharacterDevice(), 'CharacterDevice'],
  [(s) => s.isBlockDevice(), 'BlockDevice'],
  [(s) => s.isFIFO(), 'FIFO'],
];

/** A tar stream written in order to a file, hashed as it goes. */
class TarWriter {
  private readonly hash = createHash('sha256');
  private readonly links = new Map<string, string>();
  private bytes = 0;
  private entries = 0;

  constructor(
    private readonly fd: number,
    private readonly mtime: Date | undefined,
  ) {}

  async object(layer: ReadableLayer, rel: string, path: string, stat: Stat): Promise<void> {
    const type = TYPES.find(([test]) => test(stat))?.[1];
    if (type === undefined) return; // sockets have no tar spelling
    const key = `${layer.index}:${stat.ino}`;
    const first = !stat.isDirectory() && stat.nlink > 1n ? this.links.get(key) : undefined;
    if (!stat.isDirectory() && stat.nlink > 1n && first === undefined) this.links.set(key, path);
    const data: tar.HeaderData = {
      path: tarName(path) + (type === 'Directory' ? '/' : ''),
      type: first === undefined ? type : 'Link',
      mode: Number(stat.mode) & 0o7777,
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      size: type === 'File' && first === undefined ? Number(stat.size) : 0,
      mtime: this.mtime ?? new Date(Number(stat.mtimeMs / 1000n) * 1000),
      devmaj: Number(stat.rdev >> 8n) & 0xfff,
      devmin: Number(stat.rdev & 0xffn),
    };
    if (first !== undefined) data.linkpath = tarName(first);
    else if (type === 'SymbolicLink')
      data.linkpath = Buffer.from(await layer.readlink(rel), 'latin1').toString();
    this.header(data);
    if (data.size) this.data(layer, rel, data.size);
  }

  /** An empty `.wh.` file: a whiteout or opaque marker in the OCI spelling. */
  marker(rel: string, stat: Stat): void {
    this.header({
      path: tarName(rel),
      type: 'File',
      mode: 0o644,
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      size: 0,
      mtime: this.mtime ?? new Date(Number(stat.mtimeMs / 1000n) * 1000),
    });
  }

  end(): void {
    this.put(Buffer.alloc(1024));
  }

  result(): ExportedLayer {
    return {
      digest: `sha256:${this.hash.digest('hex')}`,
      bytes: this.bytes,
      entries: this.entries,
    };
  }

  private header(data: tar.HeaderData): void {
    const header = new tar.Header({ uname: '', gname: '', ...data });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    if (header.needPax) this.put(new tar.Pax({ ...data, mtime: data.mtime }).encode());
    this.put(block);
    this.entries++;
  }

  private data(layer: ReadableLayer, rel: string, size: number): void {
    const fd = openSync(layer.absolute(rel), 'r');
    try {
      const chunk = Buffer.alloc(1 << 20);
      let left = size;
      while (left > 0) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, left), null);
        if (n === 0) throw new Error(`${layer.root}: ${rel} shrank while exporting`);
        this.put(chunk.subarray(0, n));
        left -= n;
      }
      if (fstatSync(fd).size !== size)
        throw new Error(`${layer.root}: ${rel} changed while exporting`);
    } finally {
      closeSync(fd);
    }
    this.put(Buffer.alloc((512 - (size % 512)) % 512));
  }

  private put(buf: Buffer): void {
    writeSync(this.fd, buf);
    this.hash.update(buf);
    this.bytes += buf.length;
  }
}

/** A layer path (latin1 bytes) as a tar entry name. */
const tarName = (rel: string): string => Buffer.from(rel, 'latin1').toString();
