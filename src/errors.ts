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
