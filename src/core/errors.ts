/**
 * Errors of the overlay core: a POSIX code, nothing else. The FUSE adapter turns them (and the
 * errors Node's fs raises, which carry the same `code`) into -errno; the CLI into messages.
 */
import { constants } from 'node:os';

export type ErrnoCode = keyof typeof constants.errno;

/** A filesystem error with its POSIX code (ENOENT, EXDEV, ...); the adapter turns it into -errno. */
export class FsError extends Error {
  constructor(
    readonly code: ErrnoCode,
    detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'FsError';
  }

  get errno(): number {
    return constants.errno[this.code];
  }
}

/** An FsError without a stack trace: they are answers (ENOENT, ENODATA), made by the thousand. */
export function fsError(code: ErrnoCode, detail?: string): FsError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new FsError(code, detail);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The positive errno an error stands for, or undefined for errors that are not POSIX errors. */
export function errnoOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  return (constants.errno as Record<string, number>)[code];
}
