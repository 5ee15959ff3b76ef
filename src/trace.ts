/**
 * The --trace output: one line per union event, human-readable or JSON lines. Nothing here runs
 * unless a trace was asked for: without one the daemon installs no event listener at all.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { UnionEvent } from './core/overlay.js';
import { UnionmountError } from './errors.js';

/** Directory renames with redirect_dir set `trusted.overlay.redirect` on the moved directory. */
export interface RedirectEvent {
  type: 'redirect';
  path: string;
  /** Where the directory came from: the redirect's value. */
  target: string;
}

export type TraceEvent = UnionEvent | RedirectEvent;

/** An event as traced: `path` (and a redirect's `target`) absolute in the union, and a time. */
export type TracedEvent = TraceEvent & { time: string };

export type TraceFormat = 'human' | 'json';
export const TRACE_FORMATS: readonly TraceFormat[] = ['human', 'json'];

/** Core paths are relative byte strings; users see absolute UTF-8 paths. */
const shown = (path: string): string =>
  Buffer.from(path.startsWith('/') ? path : `/${path}`, 'latin1').toString('utf8');

export function traced(event: TraceEvent, time = new Date()): TracedEvent {
  const named = { ...event, path: shown(event.path), time: time.toISOString() };
  return named.type === 'redirect' ? { ...named, target: shown(named.target) } : named;
}

export function formatHuman(event: TracedEvent): string {
  switch (event.type) {
    case 'copy-up':
      return `copy-up  ${event.path} from lower ${event.layer} ${event.from} (${event.bytes} bytes, ${event.ms.toFixed(1)} ms)`;
    case 'redirect':
      return `redirect ${event.path} -> ${event.target}`;
    default:
      return `${event.type.padEnd(8)} ${event.path}`;
  }
}

export function formatEvent(event: TracedEvent, format: TraceFormat): string {
  if (format === 'human') return formatHuman(event);
  return JSON.stringify(event.type === 'copy-up' ? { ...event, ms: round(event.ms) } : event);
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Parses one JSON trace line back into an event; undefined for anything else. */
export function parseTraceLine(line: string): TracedEvent | undefined {
  try {
    const value = JSON.parse(line) as Partial<TracedEvent> | null;
    return typeof value?.type === 'string' && typeof value.path === 'string'
      ? (value as TracedEvent)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface TraceSink {
  /** Writes one event as one line, synchronously: it is out before the syscall returns. */
  write: (event: TraceEvent) => void;
  close: () => void;
}

/** Where trace lines and problems go when the trace is not a file. */
export interface TraceStreams {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * Where --trace writes: `true` (no value) stderr, '-' stdout, '/dev/fd/N' that descriptor (a pipe
 * or socket from the parent process), anything else a file, truncated.
 */
export function openTrace(
  target: string | true,
  format: TraceFormat,
  streams: TraceStreams,
): TraceSink {
  const lines = lineWriter(target, streams);
  let broken = false;
  return {
    write(event) {
      if (broken) return;
      try {
        lines.write(`${formatEvent(traced(event), format)}\n`);
      } catch (err) {
        // A reader that went away must not fail the filesystem call that caused the event.
        broken = true;
        const name = target === true ? 'stderr' : target;
        streams.err(`unionmount: trace ${name}: ${(err as Error).message}; tracing stopped\n`);
      }
    },
    close: lines.close,
  };
}

function lineWriter(
  target: string | true,
  streams: TraceStreams,
): { write: (line: string) => void; close: () => void } {
  const none = (): void => undefined;
  if (target === true) return { write: streams.err, close: none };
  if (target === '-') return { write: streams.out, close: none };
  // An inherited descriptor is used as is: opening /dev/fd/N anew fails for a socket.
  const inherited = /^\/dev\/fd\/(\d+)$/.exec(target);
  if (inherited) return pipeWriter(Number(inherited[1]), streams);
  const fd = openFile(target);
  return { write: (line) => void writeSync(fd, line), close: () => closeSync(fd) };
}

/** Lines held for a slow reader before events are dropped (the daemon never waits on it). */
const PIPE_BACKLOG = 16 << 20;

/**
 * A pipe to the process that started the daemon (the library API). Written without blocking: a
 * parent busy in synchronous calls on the mount cannot drain it, and a blocking write would then
 * hang the very request the parent waits for. Past the backlog, events are dropped and counted.
 */
function pipeWriter(
  fd: number,
  streams: TraceStreams,
): { write: (line: string) => void; close: () => void } {
  const pipe = new Socket({ fd, readable: false, writable: true });
  pipe.on('error', () => undefined); // a reader that went away; the next write says so
  let dropped = 0;
  return {
    write: (line) => {
      if (pipe.destroyed) throw new Error('the reader went away');
      if (pipe.writableLength > PIPE_BACKLOG) {
        if (dropped++ === 0) streams.err('unionmount: trace reader too slow: dropping events\n');
        return;
      }
      pipe.write(line);
    },
    close: () => pipe.end(),
  };
}

function openFile(path: string): number {
  try {
    return openSync(path, 'w', 0o644);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UnionmountError(`--trace ${path}: cannot write (${reason})`, 2);
  }
}

/**
 * The JSON trace lines of a daemon, read from a pipe and handed to every subscriber. The stream is
 * always drained, so a daemon never waits on a full pipe while nobody listens.
 */
export class EventFeed {
  private readonly listeners = new Set<(event: TracedEvent | undefined) => void>();
  private ended = false;

  constructor(stream: Readable) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const event of lines.map(parseTraceLine)) {
        if (event) for (const listener of this.listeners) listener(event);
      }
    });
    stream.once('close', () => {
      this.ended = true;
      for (const listener of this.listeners) listener(undefined);
    });
  }

  /** The events from now on, until the stream closes. */
  subscribe(): AsyncIterableIterator<TracedEvent> {
    const queue: TracedEvent[] = [];
    let done = this.ended;
    let wake: (() => void) | undefined;
    const listener = (event: TracedEvent | undefined): void => {
      if (event) queue.push(event);
      else done = true;
      wake?.();
    };
    // Subscribed now, not at the first next(): events of the caller's next step are not lost.
    if (!done) this.listeners.add(listener);
    const listeners = this.listeners;
    async function* drain(): AsyncGenerator<TracedEvent> {
      try {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!;
          if (done) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        listeners.delete(listener);
      }
    }
    return drain();
  }
}
