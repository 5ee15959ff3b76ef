/** An error for the user: one line naming the path and the problem, and the exit code to use. */
export class UnionmountError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UnionmountError';
  }
}

/** A command's own exit status passed on (`try` exits as the command it ran), with no message. */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
    this.name = 'ExitStatus';
  }
}
