/** A failure that retrying cannot fix (the worker fails the job without further attempts). */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}
