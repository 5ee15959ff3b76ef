/**
 * `apply`: merges a container layer into the live directory below it, as if the changes had been
 * made there: new and changed objects are copied with their metadata, whiteouts become deletions,
 * an opaque directory replaces the target's directory, a redirected directory is a rename.
 *
 * The plan is made first, from the upper over TARGET read through the core (so a redirect's origin
 * is resolved as the kernel resolves it), then carried out in an order that never reads what it
 * already changed: renames, then creations, then deletions, then directory attributes (deepest
 * first). Every object appears at its name in one rename from a staging directory inside TARGET,
 * so after a crash each name holds its old or its new object; the sandbox is only ever read.
 */
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { isDir } from '../core/entry.js';
import { isWithin, join } from '../core/paths.js';
import { WritableDiskLayer } from '../layers/disk.js';
import type { ReadableLayer } from '../layers/layer.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../layers/native.js';
import { TreeWriter } from './copy.js';
import { display, openStack, type Stack, walkMerged } from './stack.js';

export type Step =
  | { op: 'rename'; from: string; rel: string }
  /** A non-directory written at `rel`, replacing what is there. */
  | { op: 'write'; rel: string; size: bigint }
  /** The merged directory at `rel` written whole, replacing what is there. */
  | { op: 'tree'; rel: string }
  | { op: 'delete'; rel: string }
  /** The upper directory's mode, owner, times and xattrs given to TARGET's. */
  | { op: 'attrs'; rel: string };

const STAGING = '.unionmount-apply-';

export async function planApply(
  upper: string,
  target: string,
  selected: (rel: string) => boolean = () => true,
): Promise<Step[]> {
  const stack = openStack([target], upper);
  const steps: Step[] = [];
  await planDir(stack, '', steps, selected);
  if (selected('')) steps.push({ op: 'attrs', rel: '' });
  const renamed = new Set(steps.flatMap((s) => (s.op === 'rename' ? [s.from] : [])));
  const rank = { rename: 0, write: 1, tree: 1, delete: 2, attrs: 3 };
  // A whiteout at a rename's origin is done by the rename; nothing else at the origin is.
  const kept = steps.filter((s) => s.op !== 'delete' || !renamed.has(s.rel));
  return kept.sort((a, b) => rank[a.op] - rank[b.op]);
}

async function planDir(
  stack: Stack,
  dir: string,
  steps: Step[],
  selected: (rel: string) => boolean,
): Promise<void> {
  const upper = stack.upper!;
  const lower = stack.lowers[0]!;
  for (const { name } of await upper.readdir(dir)) {
    const rel = join(dir, name);
    // Ancestors of a selected path are walked, not applied.
    if (!selected(rel) && !(await hasSelected(upper, rel, selected))) continue;
    const stat = (await upper.lstat(rel))!;
    if (stack.format.isWhiteout(stat)) {
      if (selected(rel) && (await lower.lstat(rel)) !== undefined)
        steps.push({ op: 'delete', rel });
      continue;
    }
    if (!stat.isDirectory()) {
      if (selected(rel)) steps.push({ op: 'write', rel, size: stat.size });
      continue;
    }
    const entry = (await stack.merged.lookup.find(rel))!;
    const below = entry.stack[1];
    if (below === undefined || stack.format.isOpaque(upper, rel)) {
      if (selected(rel)) steps.push({ op: 'tree', rel });
      continue;
    }
    if (below.rel !== rel && selected(rel)) steps.push({ op: 'rename', from: below.rel, rel });
    await planDir(stack, rel, steps, selected);
    if (selected(rel)) steps.push({ op: 'attrs', rel });
  }
}

async function hasSelected(
  layer: ReadableLayer,
  rel: string,
  selected: (rel: string) => boolean,
): Promise<boolean> {
  if (!(await layer.lstat(rel))?.isDirectory()) return false;
  for (const { name } of await layer.readdir(rel)) {
    const child = join(rel, name);
    if (selected(child) || (await hasSelected(layer, child, selected))) return true;
  }
  return false;
}

/** One line per step, as `--dry-run` prints them. */
export function describeStep(step: Step): string {
  switch (step.op) {
    case 'rename':
      return `rename ${display(step.from)} -> ${display(step.rel)}`;
    case 'write':
      return `write  ${display(step.rel)} (${step.size} bytes)`;
    case 'tree':
      return `write  ${display(step.rel)}/ (whole directory)`;
    case 'delete':
      return `delete ${display(step.rel)}`;
    case 'attrs':
      return `attrs  ${step.rel === '' ? '/' : display(step.rel) + '/'}`;
  }
}

/** Carries out `steps` (from planApply with the same upper and target). */
export async function applySteps(upper: string, target: string, steps: Step[]): Promise<void> {
  const stack = openStack([target], upper);
  const dest = new WritableDiskLayer(1, target);
  await clearStaleStaging(target);
  const staging = `${STAGING}${process.pid}`;
  await dest.mkdir(staging, 0o700);
  const run = new ApplyRun(stack, dest, staging);
  for (const step of steps) await run.step(step);
  run.attrs.finish();
  await dest.removeTree(staging);
}

class ApplyRun {
  /** Renames done so far, to find a lower path after its parent moved. */
  private readonly moves: [string, string][] = [];
  private staged = 0;
  readonly attrs: TreeWriter;

  constructor(
    private readonly stack: Stack,
    private readonly dest: WritableDiskLayer,
    private readonly staging: string,
  ) {
    this.attrs = this.writer();
  }

  async step(step: Step): Promise<void> {
    const upper = this.stack.upper!;
    switch (step.op) {
      case 'rename':
        await this.replace(this.moved(step.from), step.rel);
        this.moves.push([step.from, step.rel]);
        return;
      case 'write': {
        const temp = this.temp();
        await this.writer().copy(upper, step.rel, temp);
        await this.sync(temp);
        return this.replace(temp, step.rel);
      }
      case 'tree':
        return this.replace(await this.writeTree(step.rel), step.rel);
      case 'delete': {
        if ((await this.dest.lstat(step.rel)) === undefined) return;
        const temp = this.temp();
        this.dest.rename(step.rel, temp);
        return this.dest.removeTree(temp);
      }
      case 'attrs':
        return this.attrs.attributes(upper, step.rel, (await upper.lstat(step.rel))!, step.rel);
    }
  }

  /** The merged directory at `rel` copied into the staging directory. */
  private async writeTree(rel: string): Promise<string> {
    const temp = this.temp();
    const writer = this.writer();
    const root = (await this.stack.merged.lookup.find(rel))!;
    await this.copyEntry(writer, root.stack[0]!, temp);
    for await (const entry of walkMerged(this.stack, root)) {
      const to = join(temp, entry.path.slice(rel.length + 1));
      await this.copyEntry(writer, entry.stack[0]!, to);
      if (!isDir(entry)) await this.sync(to);
    }
    writer.finish();
    return temp;
  }

  private async copyEntry(
    writer: TreeWriter,
    { layer, rel }: { layer: ReadableLayer; rel: string },
    to: string,
  ): Promise<void> {
    const source = layer === this.stack.upper ? rel : this.moved(rel);
    await writer.copy(layer === this.stack.upper ? layer : this.dest, source, to);
  }

  /** Puts `from` at `rel` in one rename; what was at `rel` goes to staging and is removed. */
  private async replace(from: string, rel: string): Promise<void> {
    const old = await this.dest.lstat(rel);
    if (old === undefined) return this.dest.rename(from, rel, RENAME_NOREPLACE);
    if (!old.isDirectory() && !(await this.dest.lstat(from))!.isDirectory())
      return this.dest.rename(from, rel);
    this.dest.rename(from, rel, RENAME_EXCHANGE);
    await this.dest.removeTree(from);
  }

  /** Where a path of TARGET as planned is now, after the renames done so far. */
  private moved(rel: string): string {
    for (const [from, to] of this.moves) if (isWithin(rel, from)) rel = to + rel.slice(from.length);
    return rel;
  }

  private async sync(rel: string): Promise<void> {
    if (!(await this.dest.lstat(rel))!.isFile()) return;
    const handle = await fsp.open(this.dest.absolute(rel), 'r');
    await handle.sync();
    await handle.close();
  }

  private temp(): string {
    return join(this.staging, String(this.staged++));
  }

  private writer(): TreeWriter {
    return new TreeWriter(this.dest, (name) => !this.stack.format.isPrivateXattr(name));
  }
}

/** Staging directories of applies that died (their pid is gone). */
async function clearStaleStaging(target: string): Promise<void> {
  for (const name of readdirSync(target)) {
    if (!name.startsWith(STAGING)) continue;
    const pid = Number(name.slice(STAGING.length));
    if (existsSync(`/proc/${pid}`) && pid !== process.pid) continue;
    await fsp.rm(joinPath(target, name), { recursive: true, force: true });
  }
}
