/**
 * createEngine: the serving engine for a model folder. By default the EngineCore runs in a
 * Worker (GPU waits cost ~10 ms each in Deno and would stall HTTP on the main thread); with
 * `inProcess` it runs on the calling thread (CLI tools, tests).
 * @module
 */
import type { BackendModule } from "./backend.ts";
import type { EngineConfig } from "./create_core.ts";
import * as gpuBackend from "./gpu_backend.ts";
import { engineConfig, LocalEngine } from "./local_engine.ts";
import type { EngineApi } from "./types.ts";
import { GPU_WORKER_URL, WorkerEngine } from "./worker_engine.ts";

/** How to start an engine: the model folder, the engine settings, and where it runs. */
export interface EngineOptions extends Partial<EngineConfig> {
  /** Model folder (Hugging Face layout). */
  model: string;
  /** Loading messages (weights read and uploaded). */
  onProgress?: (message: string) => void;
  /** Run on this thread instead of a Worker. */
  inProcess?: boolean;
}

/** What loads a model: a backend, and the Worker entry that serves the engine on it. */
export interface BackendChoice {
  /** Loads the model (the WebGPU one by default; tests inject the fake runner's). */
  backend: BackendModule;
  /** A Worker entry that calls serveEngineWorker with the same backend. */
  workerUrl: string | URL;
}

/** The WebGPU backend and its Worker entry. */
export const GPU_BACKEND: BackendChoice = { backend: gpuBackend, workerUrl: GPU_WORKER_URL };

/** Loads the model and starts its engine on the GPU. */
export function createEngine(options: EngineOptions): Promise<EngineApi> {
  return createEngineOn(options, GPU_BACKEND);
}

/** Loads the model through `choice` and starts its engine (tests pass the fake runner's). */
export async function createEngineOn(
  options: EngineOptions,
  { backend, workerUrl }: BackendChoice,
): Promise<EngineApi> {
  const { model, onProgress, inProcess, ...settings } = options;
  const config = engineConfig(settings);
  if (!inProcess) {
    return await WorkerEngine.start({ model, config }, backend, workerUrl, onProgress);
  }
  const parts = await backend.loadEngineParts(model, config, onProgress ?? (() => {}));
  return new LocalEngine(parts, config);
}
