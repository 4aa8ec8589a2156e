/**
 * The engine as the routes see it while it may still be loading: a model takes seconds to
 * minutes to load, and the server should answer /health (503) and /metrics meanwhile.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { ApiError } from "./api_error.ts";

/** Where the engine is in its life. */
export type EngineState = "loading" | "ready" | "failed";

/** Holds an engine, or the promise of one, and answers 503 until it is ready. */
export class EngineRef {
  #engine: EngineApi | null = null;
  #error: Error | null = null;
  /** Settles when loading ends, either way (tests and main.ts wait on it). */
  readonly loaded: Promise<void>;

  /** Wraps a ready engine or a loading one. */
  constructor(source: EngineApi | Promise<EngineApi>) {
    if (source instanceof Promise) {
      this.loaded = source.then(
        (engine) => {
          this.#engine = engine;
        },
        (err: unknown) => {
          this.#error = err instanceof Error ? err : new Error(String(err));
        },
      );
    } else {
      this.#engine = source;
      this.loaded = Promise.resolve();
    }
  }

  /** The engine's state now. */
  get state(): EngineState {
    if (this.#engine) return "ready";
    return this.#error ? "failed" : "loading";
  }

  /** The engine, or null while it is not ready. */
  get engine(): EngineApi | null {
    return this.#engine;
  }

  /** The engine; throws a 503 while it loads or after it failed to load. */
  get(): EngineApi {
    if (this.#engine) return this.#engine;
    // the cause names files on the server: it goes to the operator's log, not to any client
    const message = this.#error
      ? "The model failed to load; the server's log says why"
      : "The model is loading; retry shortly";
    throw new ApiError(503, message, {
      code: this.#error ? "model_load_failed" : "model_loading",
      headers: this.#error ? {} : { "Retry-After": "5" },
    });
  }
}
