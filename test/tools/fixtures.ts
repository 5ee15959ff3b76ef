/**
 * Layers and images for the layer-tool tests: a two-layer image (b below a) in kernel format, an
 * upper changed through a kernel overlay mount (the oracle writes it), and docker-save and OCI
 * tarballs built by hand with the tar package.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { run } from '../../src/cli/main.js';
import { opaqueDir, whiteout, writeLayer } from '../helpers/layers.js';
import { kernelOverlay } from '../helpers/mounts.js';
import { snapshot } from '../helpers/tree.js';

/** Runs the CLI in this process; returns its exit code and output. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** b: the base layer; a: a layer over it that changes, deletes and replaces things. */
export function writeImage(dir: string): { a: string; b: string } {
  const b = writeLayer(join(dir, 'b'), {
    'etc/app.conf': 'base config\n',
    'etc/hosts': 'localhost\n',
    'etc/old.txt': 'old\n',
    'data/blob': 'x'.repeat(1000),
    'data/keep': 'keep\n',
    'var/log/boot.log': 'booted\n',
  });
  const a = writeLayer(join(dir, 'a'), {
    'etc/app.conf': 'layer a config\n',
    'etc/old.txt': whiteout(),
    'var/': opaqueDir(),
    'var/run.pid': '42\n',
  });
  return { a, b };
}

/** Changes made through a kernel overlay mount of a:b, so the upper is the kernel's own. */
export function changeThroughKernel(
  dir: string,
  a: string,
  b: string,
): { upper: string; work: string } {
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  mkdirSync(upper);
  mkdirSync(work);
  const mnt = join(dir, 'mnt-change');
  mkdirSync(mnt);
  const mount = kernelOverlay({ lowers: [a, b], upper, work, mountpoint: mnt });
  const sh = (script: string): void => void execFileSync('sh', ['-c', script], { cwd: mnt });
  sh('echo mine > etc/app.conf'); // copy-up and change
  sh('rm etc/hosts'); // whiteout
  sh('rm -r data && mkdir data && echo fresh > data/new'); // opaque directory
  sh('mkdir -p opt/tool && echo run > opt/tool/bin && ln -s bin opt/tool/link');
  sh('touch -d 2001-01-01 var/run.pid'); // metadata-only change still copies up
  mount.unmount();
  return { upper, work };
}

/** The merged tree of `lowers` (and `upper`) as the kernel shows it. */
export function kernelView(dir: string, name: string, lowers: string[], upper?: string): string[] {
  const mnt = join(dir, `mnt-${name}`);
  mkdirSync(mnt);
  const work = join(dir, `work-${name}`);
  const mount = kernelOverlay({ lowers, upper, work: upper ? work : undefined, mountpoint: mnt });
  try {
    return snapshot(mnt);
  } finally {
    mount.unmount();
  }
}

export const sha256 = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A layer tarball of a plain directory that spells whiteouts as `.wh.` files. */
export async function layerTar(dir: string, options: { gzip?: boolean } = {}): Promise<Buffer> {
  const file = `${dir}.tar`;
  await tar.c({ cwd: dir, file, gzip: options.gzip ?? false, portable: true }, ['.']);
  return readFileSync(file);
}

/** `docker save` layout: manifest.json, a config with diff_ids, one tar per layer (bottom first). */
export async function dockerSave(dir: string, layers: Buffer[], out: string): Promise<string> {
  const root = join(dir, 'docker-save');
  const names = layers.map((_, i) => `layer${i}/layer.tar`);
  layers.forEach((data, i) => writeLayer(root, { [names[i]!]: data }));
  const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map(sha256) } });
  writeFileSync(join(root, 'config.json'), config);
  writeFileSync(
    join(root, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: ['test:latest'], Layers: names }]),
  );
  await tar.c({ cwd: root, file: out, portable: true }, ['manifest.json', 'config.json', ...names]);
  return out;
}

/** OCI image layout: oci-layout, index.json, blobs/sha256/... (layers may be gzip-compressed). */
export function ociLayout(dir: string, layers: { blob: Buffer; diffId: string }[]): string {
  const root = join(dir, 'oci');
  const put = (data: Buffer | string): { digest: string; size: number } => {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    writeLayer(root, { [`blobs/${digest.replace(':', '/')}`]: bytes });
    return { digest, size: bytes.length };
  };
  const config = put(
    JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }),
  );
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        ...put(l.blob),
      })),
    }),
  );
  writeFileSync(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(root, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }],
    }),
  );
  return root;
}
