/**
 * What a lesson is made of: a temporary directory for its layers, mounts through the library API
 * (child daemons) whose events are traced live under each command, shell commands shown as they
 * run, layer pictures, tables, and checks of the lesson's claim. Everything a lesson mounted is
 * unmounted and its directory removed, also when it fails.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountUnion, type MountedUnion } from '../api.js';
import { table } from '../cli/table.js';
import { writeLayer, type LayerSpec } from '../testing/layers.js';
import { formatHuman, type TracedEvent } from '../trace.js';
import { picture, type PictureStack } from './picture.js';

const run = promisify(execFile);

export interface Lesson {
  name: string;
  title: string;
  /** What the lesson shows, checked at its end. */
  claim: string;
  run(kit: Kit): Promise<void>;
}

/** A union mounted by a lesson, with the events it traced. */
export interface LessonMount {
  /** The mountpoint, relative to the lesson directory (where commands run). */
  mnt: string;
  lowers: string[];
  upper: string;
  /** Every event so far. */
  events: TracedEvent[];
  unmount(): Promise<void>;
}

export interface KitOptions {
  out: (text: string) => void;
  colour: boolean;
  /** Keep the lesson directory (its layers stay for exploring). */
  keep?: boolean;
}

export class Kit {
  readonly dir = mkdtempSync(join(tmpdir(), 'unionmount-lesson-'));
  private steps = 0;
  private readonly failed: string[] = [];
  private readonly mounts = new Set<LessonMount>();
  private printed = new Map<LessonMount, number>();

  constructor(private readonly options: KitOptions) {}

  get ok(): boolean {
    return this.failed.length === 0;
  }

  /** An absolute path in the lesson directory. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  // ---- output ----------------------------------------------------------------------------

  /** Prints text with the lesson directory left out of every path: commands run inside it. */
  print(text = ''): void {
    this.options.out(`${this.relative(text)}\n`);
  }

  private relative(text: string): string {
    return text.split(`${this.dir}/`).join('');
  }

  heading(title: string, claim: string): void {
    this.print(this.paint('1', `Lesson: ${title}`));
    this.print(`Claim: ${claim}`);
  }

  step(title: string): void {
    this.print();
    this.print(this.paint('1;36', `Step ${++this.steps}: ${title}`));
  }

  table(head: string[], rows: (string | number)[][]): void {
    const text = table(
      head,
      rows.map((row) => row.map((cell) => this.relative(String(cell)))),
    );
    for (const line of text.split('\n')) this.print(`  ${line}`);
  }

  /** The layers as rows, top first, and what each holds at each path. */
  async picture(stack: PictureStack, paths: string[]): Promise<void> {
    const { head, rows } = await picture(stack, paths);
    this.table(head, rows);
  }

  /** Checks one part of the claim; the lesson fails when any check fails. */
  check(what: string, holds: boolean, detail = ''): void {
    if (!holds) this.failed.push(what);
    const mark = holds ? this.paint('32', '✓') : this.paint('31', '✗');
    this.print(`${mark} ${what}${holds || detail === '' ? '' : ` (${detail})`}`);
  }

  /** The closing line: whether the claim held. */
  verdict(claim: string): void {
    this.print();
    if (this.ok) this.print(this.paint('1;32', `The claim holds: ${claim}`));
    else this.print(this.paint('1;31', `The claim does NOT hold: ${this.failed.join('; ')}`));
  }

  private paint(code: string, text: string): string {
    return this.options.colour ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  // ---- layers, mounts, commands ---------------------------------------------------------

  /** Writes a layer directory in the lesson directory (see src/testing/layers.ts). */
  layer(name: string, spec: LayerSpec = {}): string {
    return writeLayer(this.path(name), spec);
  }

  /** Mounts `lowers` (top first) under `upper` at `<mnt>`, and records its events. */
  async mount(mnt: string, lowers: string[], upper: string): Promise<LessonMount> {
    const mountpoint = this.path(mnt);
    mkdirSync(mountpoint, { recursive: true });
    mkdirSync(upper, { recursive: true });
    const union = await mountUnion({ lowers, upper, mountpoint });
    const events: TracedEvent[] = [];
    void record(union, events);
    const mount: LessonMount = {
      mnt,
      lowers,
      upper,
      events,
      unmount: async () => {
        this.mounts.delete(mount);
        await union.unmount();
      },
    };
    this.mounts.add(mount);
    this.printed.set(mount, 0);
    return mount;
  }

  /** Runs a shell command in the lesson directory, shows it, its output and the union events. */
  async sh(command: string): Promise<string> {
    this.print(`${this.paint('2', '$')} ${command}`);
    let stdout: string;
    try {
      ({ stdout } = await run('/bin/sh', ['-c', command], { cwd: this.dir, encoding: 'utf8' }));
    } catch (err) {
      const { stderr, code } = err as { stderr?: string; code?: number };
      throw new Error(`'${command}' failed (exit ${code}): ${stderr?.trim() ?? ''}`);
    }
    for (const line of stdout.trimEnd().split('\n').filter(Boolean)) this.print(`  ${line}`);
    await this.showEvents();
    return stdout;
  }

  /** Prints the events traced since the last command, each under the mount that traced it. */
  private async showEvents(): Promise<void> {
    await settle();
    const several = this.mounts.size > 1;
    for (const mount of this.mounts) {
      const from = this.printed.get(mount) ?? 0;
      for (const event of mount.events.slice(from)) {
        const who = several ? `${mount.mnt}: ` : '';
        this.print(this.paint('33', `  trace ${who}${formatHuman(event)}`));
      }
      this.printed.set(mount, mount.events.length);
    }
  }

  /** Unmounts what is still mounted and removes the lesson directory (unless kept). */
  async close(): Promise<void> {
    for (const mount of [...this.mounts]) await mount.unmount().catch(() => undefined);
    if (this.options.keep) this.print(`\nThe lesson's layers are kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

async function record(union: MountedUnion, events: TracedEvent[]): Promise<void> {
  for await (const event of union.events()) events.push(event);
}

/**
 * The daemon writes an event before it answers the call that caused it, so once a command is
 * done its events are in the pipe; a few turns of the event loop bring them in.
 */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 25));
