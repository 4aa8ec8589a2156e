/**
 * The error for a request whose prompt cannot fit the KV cache budget even with nothing else
 * running; it fails at once instead of waiting forever.
 * @module
 */

/** The prompt needs more KV bytes than the whole cache holds. */
export class KvCapacityError extends Error {
  /** Creates the error naming both sizes. */
  constructor(readonly neededBytes: number, readonly budgetBytes: number) {
    super(
      `The prompt needs at least ${neededBytes} bytes of KV cache, but the cache holds ${budgetBytes}; raise --kv-cache-memory or shorten the prompt`,
    );
    this.name = "KvCapacityError";
  }
}
