/**
 * Named errors the engine raises for requests it cannot take; the server maps them to HTTP.
 * @module
 */

/** The waiting queue is full; retry later. */
export class QueueFullError extends Error {
  /** Creates the error with the queue's limit in its message. */
  constructor(limit: number) {
    super(`The waiting queue is full (${limit} requests); retry later`);
    this.name = "QueueFullError";
  }
}

/** Prompt plus max_tokens exceeds the model's context. */
export class ContextLengthError extends Error {
  /** Creates the error naming both lengths. */
  constructor(readonly requested: number, readonly maxModelLen: number) {
    super(
      `This model's maximum context length is ${maxModelLen} tokens, but ${requested} were requested`,
    );
    this.name = "ContextLengthError";
  }
}
