/**
 * Layers for tests, stated as plain objects and written in the kernel's format:
 *   { 'etc/app.conf': 'text', 'old.txt': whiteout(), 'cache/': opaqueDir(), 'bin/sh': symlink('x') }
 * A key ending in '/' is a directory. Parents are created as needed.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as native from '../../src/layers/native.js';

const OPAQUE = 'trusted.overlay.opaque';

export type Node =
  | string
  | Buffer
  | { kind: 'whiteout' }
  | { kind: 'dir'; opaque?: boolean; mode?: number }
  | { kind: 'symlink'; target: string }
  | { kind: 'file'; data: string | Buffer; mode?: number; xattrs?: Record<string, string> }
  | { kind: 'fifo' };

export const whiteout = (): Node => ({ kind: 'whiteout' });
export const opaqueDir = (): Node => ({ kind: 'dir', opaque: true });
export const dir = (mode?: number): Node => ({ kind: 'dir', mode });
export const symlink = (target: string): Node => ({ kind: 'symlink', target });
export const file = (
  data: string | Buffer,
  extra: { mode?: number; xattrs?: Record<string, string> } = {},
): Node => ({
  kind: 'file',
  data,
  ...extra,
});
export const fifo = (): Node => ({ kind: 'fifo' });

export type LayerSpec = Record<string, Node>;

export function writeLayer(root: string, spec: LayerSpec): string {
  mkdirSync(root, { recursive: true });
  for (const [key, node] of Object.entries(spec)) {
    const path = join(root, key);
    mkdirSync(dirname(path), { recursive: true });
    writeNode(path, key.endsWith('/') && typeof node === 'string' ? dir() : node);
  }
  return root;
}

function writeNode(path: string, node: Node): void {
  if (typeof node === 'string' || Buffer.isBuffer(node)) return writeFileSync(path, node);
  switch (node.kind) {
    case 'whiteout':
      return native.mknod(Buffer.from(path), 0o020000, 0);
    case 'dir':
      mkdirSync(path, { recursive: true, mode: node.mode ?? 0o755 });
      if (node.opaque) native.setxattr(Buffer.from(path), OPAQUE, Buffer.from('y'));
      return;
    case 'symlink':
      return symlinkSync(node.target, path);
    case 'file':
      writeFileSync(path, node.data, { mode: node.mode ?? 0o644 });
      for (const [name, value] of Object.entries(node.xattrs ?? {}))
        native.setxattr(Buffer.from(path), name, Buffer.from(value));
      return;
    case 'fifo':
      return native.mknod(Buffer.from(path), 0o010644, 0);
  }
}

/** A scratch directory removed by the returned function. */
export function scratch(prefix = 'um-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
