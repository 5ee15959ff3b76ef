/**
 * `commit`: the container layer becomes a new read-only layer directory in the kernel's format
 * (whiteouts, opaque directories and redirects kept, the kernel's copy-up bookkeeping such as
 * `origin` and `impure` dropped: it names objects of this mount only), so that `--lower NEW:a:b`
 * shows the same tree as the mount did. `squash`: all layers flattened into one plain tree.
 */
import type { Entry } from '../core/entry.js';
import { WritableDiskLayer } from '../layers/disk.js';
import { buildDirectory, type Progress, TreeWriter } from './copy.js';
import { refuseIfMounted } from './live.js';
import { openStack, walkLayer, walkMerged } from './stack.js';

export interface LayerCopyOptions {
  onProgress?: Progress;
}

export async function commit(
  lowers: readonly string[],
  upper: string,
  dest: string,
  options: LayerCopyOptions = {},
): Promise<void> {
  refuseIfMounted(upper, 'committing it');
  const stack = openStack(lowers, upper);
  const layer = stack.upper!;
  const { format } = stack;
  const kept = new Set([format.opaqueXattr, format.redirectXattr]);
  const paths: string[] = [];
  for await (const rel of walkLayer(layer)) paths.push(rel);
  await buildDirectory(dest, 'new layer', stack.layers, async (staging) => {
    const writer = new TreeWriter(
      new WritableDiskLayer(0, staging),
      (name) => !format.isPrivateXattr(name) || kept.has(name),
    );
    await writer.copy(layer, '', '');
    for (const [i, rel] of paths.entries()) {
      await writer.copy(layer, rel, rel);
      options.onProgress?.(i + 1, paths.length);
    }
    writer.finish();
  });
}

export async function squash(
  lowers: readonly string[],
  upper: string | undefined,
  dest: string,
  options: LayerCopyOptions = {},
): Promise<void> {
  if (upper !== undefined) refuseIfMounted(upper, 'squashing it');
  const stack = openStack(lowers, upper);
  const root = (await stack.merged.lookup.find(''))!;
  const entries: Entry[] = [];
  for await (const entry of walkMerged(stack, root)) entries.push(entry);
  await buildDirectory(dest, 'squashed layer', stack.layers, async (staging) => {
    const writer = new TreeWriter(
      new WritableDiskLayer(0, staging),
      (name) => !stack.format.isPrivateXattr(name),
    );
    await writer.copy(root.stack[0]!.layer, '', '');
    for (const [i, entry] of entries.entries()) {
      const { layer, rel } = entry.stack[0]!;
      await writer.copy(layer, rel, entry.path);
      options.onProgress?.(i + 1, entries.length);
    }
    writer.finish();
  });
}
