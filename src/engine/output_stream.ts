/**
 * The stream a generate() call reads: the engine pushes outputs as steps resolve, the caller
 * pulls them with `for await`; leaving the loop early runs `onReturn` (the engine cancels).
 * @module
 */
import type { GenerateOutput } from "./types.ts";

/** A single-reader queue of outputs that ends with the last output or an error. */
export class OutputStream implements AsyncIterable<GenerateOutput> {
  readonly #queue: GenerateOutput[] = [];
  #error: unknown = null;
  #ended = false;
  #wake: (() => void) | null = null;
  readonly #onReturn: () => void;

  /** A stream that calls `onReturn` when its reader stops before the end. */
  constructor(onReturn: () => void = () => {}) {
    this.#onReturn = onReturn;
  }

  /** Queues an output; the one carrying finishReason ends the stream. */
  push(output: GenerateOutput): void {
    if (this.#ended) return;
    this.#queue.push(output);
    if (output.finishReason !== undefined) this.#ended = true;
    this.#notify();
  }

  /** Ends the stream with an error the reader sees after the queued outputs. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error;
    this.#ended = true;
    this.#notify();
  }

  /** Whether the last output or an error was pushed. */
  get ended(): boolean {
    return this.#ended;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerateOutput> {
    let done = false;
    try {
      while (true) {
        const next = this.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.#ended) break;
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
      done = true;
      if (this.#error !== null) throw this.#error;
    } finally {
      if (!done) this.#onReturn();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
