/**
 * createEngine: the serving engine for a model folder. By default the EngineCore runs in a
 * Worker (GPU waits cost ~10 ms each in Deno and would stall HTTP on the main thread); with
 * `inProcess` it runs on the calling thread (CLI tools, tests).
 * @module
 */
import { GPU_BACKEND, importBackend } from "./backend.ts";
import type { EngineConfig } from "./create_core.ts";
import { engineConfig, LocalEngine } from "./local_engine.ts";
import type { EngineApi } from "./types.ts";
import { WorkerEngine } from "./worker_engine.ts";

/** How to start an engine: the model folder, the engine settings, and where it runs. */
export interface EngineOptions extends Partial<EngineConfig> {
  /** Model folder (Hugging Face layout). */
  model: string;
  /** Loading messages (weights read and uploaded). */
  onProgress?: (message: string) => void;
  /** Run on this thread instead of a Worker. */
  inProcess?: boolean;
  /** URL of the backend module (default: WebGPU); tests pass the fake runner's. */
  backend?: string;
}

/** Loads the model and starts its engine. */
export async function createEngine(options: EngineOptions): Promise<EngineApi> {
  const { model, onProgress, inProcess, backend = GPU_BACKEND, ...settings } = options;
  const config = engineConfig(settings);
  if (!inProcess) return await WorkerEngine.start({ model, config, backend }, onProgress);
  const mod = await importBackend(backend);
  const parts = await mod.loadEngineParts(model, config, onProgress ?? (() => {}));
  return new LocalEngine(parts, config);
}
