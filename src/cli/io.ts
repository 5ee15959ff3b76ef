/** Where the CLI writes: injectable, so tests capture it. */
export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const defaultIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** A one-line reason for a failed unmount. */
export function busyOr(err: Error): string {
  return /busy/i.test(err.message)
    ? 'busy: files are open on the mount (close them, or use --lazy)'
    : err.message.trim().split('\n').at(-1)!;
}
