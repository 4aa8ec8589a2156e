/**
 * The main-thread side of the engine Worker: an EngineApi whose generate() streams outputs
 * posted by the Worker, with encode, decode and the chat template answered locally. stats() and
 * blockMap() return the latest snapshot the Worker pushed (it pushes while busy, once idle, and
 * when refresh() asks).
 * @module
 */
import type { KvPolicy } from "../kv/policy.ts";
import type { BackendModule, TextSide } from "./backend.ts";
import { OutputStream } from "./output_stream.ts";
import type { EngineSummary } from "./summary.ts";
import { TextEngine } from "./text_engine.ts";
import {
  type EngineSnapshot,
  fromWire,
  type FromWorker,
  type ToWorker,
  type WorkerInit,
} from "./protocol.ts";
import type {
  BlockMapEntry,
  EngineApi,
  EngineStats,
  GenerateOutput,
  GenerateRequest,
} from "./types.ts";

/** The Worker entry that serves the engine on the WebGPU backend. */
export const GPU_WORKER_URL: string = new URL("./worker.ts", import.meta.url).href;
/** How long refresh() waits for the Worker's snapshot before it settles for the last one. */
const REFRESH_TIMEOUT_MS = 1000;
/** How long close() waits after ending the Worker for its thread to release the GPU. */
const WORKER_TEARDOWN_MS = 300;

/** An engine running in a Worker. */
export class WorkerEngine extends TextEngine implements EngineApi {
  readonly modelId: string;
  readonly maxModelLen: number;
  readonly kvPolicy: KvPolicy;
  readonly #worker: Worker;
  readonly #streams = new Map<number, OutputStream>();
  #snapshot: EngineSnapshot;
  readonly #summary: EngineSummary;
  #numRequests = 0;
  #waiters: (() => void)[] = [];
  #closed: Promise<void> | null = null;

  private constructor(
    worker: Worker,
    text: TextSide,
    ready: Extract<FromWorker, { type: "ready" }>,
  ) {
    super(text, ready.kvPolicy.prompt.dtype);
    this.kvPolicy = ready.kvPolicy;
    this.#worker = worker;
    this.modelId = ready.modelId;
    this.maxModelLen = ready.maxModelLen;
    this.#snapshot = ready.snapshot;
    this.#summary = ready.summary;
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.#receive(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`The engine worker failed: ${event.message}`);
      for (const stream of this.#streams.values()) stream.fail(error);
    };
  }

  /**
   * Starts the Worker at `workerUrl` (one that calls serveEngineWorker with its backend) and waits
   * until it has loaded the model; `backend` loads the text side on this thread.
   */
  static async start(
    init: WorkerInit,
    backend: Pick<BackendModule, "loadTextSide">,
    workerUrl: string | URL = GPU_WORKER_URL,
    onProgress?: (message: string) => void,
  ): Promise<WorkerEngine> {
    const text = await backend.loadTextSide(init.model);
    const worker = new Worker(workerUrl, { type: "module" });
    const ready = await new Promise<Extract<FromWorker, { type: "ready" }>>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "progress") onProgress?.(message.message);
        else if (message.type === "ready") resolve(message);
        else if (message.type === "initFailed") reject(fromWire(message.error));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`The engine worker failed to start: ${event.message}`));
      };
      worker.postMessage({ type: "init", init } satisfies ToWorker);
    }).catch((error) => {
      worker.terminate();
      throw error;
    });
    return new WorkerEngine(worker, text, ready);
  }

  /** Streams a request's outputs from the Worker; aborting `signal` cancels it there. */
  generate(
    request: GenerateRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<GenerateOutput> {
    return this.#generate(request, options.signal);
  }

  /** What the engine runs, as the Worker reported when it was ready. */
  describe(): EngineSummary {
    return this.#summary;
  }

  /** The latest stats the Worker reported (refresh() first for current ones). */
  stats(): EngineStats {
    return this.#snapshot.stats;
  }

  /** The latest block map the Worker reported (refresh() first for a current one). */
  blockMap(): BlockMapEntry[] {
    return this.#snapshot.blockMap;
  }

  /** Asks the Worker for a snapshot and waits for it (at most a second: a busy step may hold it). */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, REFRESH_TIMEOUT_MS);
      const waiters = this.#waiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      this.#waiters.push(done);
      this.#post({ type: "refresh" });
    });
  }

  /** Cancels everything, waits for the Worker to release the GPU, and ends it. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      const done = this.#worker.onmessage;
      this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.type !== "closed") return done?.call(this.#worker, event);
        this.#worker.terminate();
        // The Worker's thread drops its wgpu device as it ends; a process that exits while that
        // drop runs can crash in the driver (gfx-rs/wgpu#8365), so give it time to finish.
        setTimeout(resolve, WORKER_TEARDOWN_MS);
      };
      this.#post({ type: "close" });
    });
    return this.#closed;
  }

  async *#generate(request: GenerateRequest, signal?: AbortSignal): AsyncGenerator<GenerateOutput> {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error("The engine is closed");
    const id = ++this.#numRequests;
    const abort = () => this.#post({ type: "abort", id });
    const stream = new OutputStream(abort);
    this.#streams.set(id, stream);
    signal?.addEventListener("abort", abort, { once: true });
    this.#post({ type: "generate", id, request });
    try {
      yield* stream;
    } finally {
      signal?.removeEventListener("abort", abort);
      this.#streams.delete(id);
    }
  }

  #receive(message: FromWorker): void {
    switch (message.type) {
      case "output":
        this.#streams.get(message.id)?.push(message.output);
        return;
      case "failed":
        this.#streams.get(message.id)?.fail(fromWire(message.error));
        return;
      case "snapshot":
        this.#snapshot = message.snapshot;
        for (const done of [...this.#waiters]) done();
        return;
    }
  }

  #post(message: ToWorker): void {
    this.#worker.postMessage(message);
  }
}
