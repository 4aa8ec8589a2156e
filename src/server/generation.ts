/**
 * One request's run through the engine, as the routes drive it: started and primed (the first
 * output awaited) before any response is sent, so what the engine refuses at submit (a full
 * queue, an unknown dtype) becomes an HTTP status and not a broken stream; cancelled when the
 * client goes away; timed for /metrics.
 * @module
 */
import type { EngineApi, GenerateOutput, GenerateRequest } from "../engine/types.ts";
import type { RequestTimer } from "./metrics.ts";

/** The engine refused a request at submit; `cause` says why and error_map.ts picks the status. */
export class SubmitRefusedError extends Error {
  /** Wraps the engine's error. */
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "SubmitRefusedError";
  }
}

/** A started generation whose outputs the route streams or collects. */
export class Generation {
  readonly #controller: AbortController;
  readonly #iterator: AsyncIterator<GenerateOutput>;
  readonly #timer: RequestTimer;
  readonly #unlink: () => void;
  #first: IteratorResult<GenerateOutput> | null;
  #finished = false;
  #finishReason: string | null = null;

  private constructor(
    controller: AbortController,
    iterator: AsyncIterator<GenerateOutput>,
    first: IteratorResult<GenerateOutput>,
    timer: RequestTimer,
    unlink: () => void,
  ) {
    this.#controller = controller;
    this.#iterator = iterator;
    this.#first = first;
    this.#timer = timer;
    this.#unlink = unlink;
  }

  /**
   * Submits `request` and waits for its first output; aborting `signal` cancels it. What the
   * engine throws before that output is a refusal (SubmitRefusedError), not a failure.
   */
  static async start(
    engine: EngineApi,
    request: GenerateRequest,
    signal: AbortSignal,
    timer: RequestTimer,
  ): Promise<Generation> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", onAbort, { once: true });
    const unlink = () => signal.removeEventListener("abort", onAbort);
    try {
      const iterator = engine.generate(request, { signal: controller.signal })[
        Symbol.asyncIterator
      ]();
      const first = await iterator.next();
      return new Generation(controller, iterator, first, timer, unlink);
    } catch (err) {
      // refused at submit (queue full, bad request): not a finished request for the metrics
      unlink();
      controller.abort();
      throw new SubmitRefusedError(err);
    }
  }

  /** The engine's finish reason, once the last output arrived. */
  get finishReason(): string | null {
    return this.#finishReason;
  }

  /** The request's timer (time to first token, duration). */
  get timer(): RequestTimer {
    return this.#timer;
  }

  /** Whether the client went away (or cancel() was called). */
  get cancelled(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The outputs, first one included; ends at the output that carries a finish reason. */
  async *outputs(): AsyncGenerator<GenerateOutput> {
    try {
      let next = this.#first ?? await this.#next();
      this.#first = null;
      while (!next.done && !this.cancelled) {
        const output = next.value;
        this.#timer.observe(output);
        if (output.finishReason === "error") {
          this.#timer.finish("error");
          throw new Error("The engine failed on this request");
        }
        yield output;
        if (output.finishReason) {
          this.#finished = true;
          this.#finishReason = output.finishReason;
          this.#timer.finish(output.finishReason);
          return;
        }
        next = await this.#next();
      }
      if (!this.cancelled) throw new Error("The engine ended the request without a finish reason");
    } finally {
      this.close();
    }
  }

  // a stream the engine failed is an error for the metrics, not a client's abort
  async #next(): Promise<IteratorResult<GenerateOutput>> {
    try {
      return await this.#iterator.next();
    } catch (err) {
      if (!this.cancelled) this.#timer.finish("error");
      throw err;
    }
  }

  /** Cancels the request in the engine (a no-op once it finished). */
  cancel(): void {
    if (!this.#finished) this.#controller.abort();
  }

  /** Ends the request: cancels it unless it finished, and releases the engine's iterator. */
  close(): void {
    this.#unlink();
    if (!this.#finished) {
      this.#controller.abort();
      this.#timer.finish("abort");
    }
    this.#iterator.return?.().catch(() => {});
  }
}
