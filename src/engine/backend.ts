/**
 * What loads a model for the engine. The engine Worker imports a backend module by URL and
 * calls loadEngineParts; the main thread calls loadTextSide for encode, decode and the chat
 * template. The WebGPU backend is the default; tests point at the fake runner's module.
 * @module
 */
import type { EngineConfig } from "./create_core.ts";
import type { EngineParts, ModelText } from "./local_engine.ts";

/** The CPU-only part of a model the main thread needs (markers: to name them in the API). */
export type TextSide =
  & Pick<ModelText, "tokenizer" | "renderChat">
  & Partial<Pick<ModelText, "markers">>;

/** The exports of a backend module. */
export interface BackendModule {
  /** Loads the model and builds its runner (in the engine Worker, or in-process). */
  loadEngineParts(
    model: string,
    config: EngineConfig,
    onProgress: (message: string) => void,
  ): Promise<EngineParts>;
  /** Loads the tokenizer and chat template only. */
  loadTextSide(model: string): Promise<TextSide>;
}

/** URL of the WebGPU backend module. */
export const GPU_BACKEND: string = new URL("./gpu_backend.ts", import.meta.url).href;

/** Imports a backend module. */
export async function importBackend(url: string): Promise<BackendModule> {
  const mod = await import(url) as Partial<BackendModule>;
  if (typeof mod.loadEngineParts !== "function" || typeof mod.loadTextSide !== "function") {
    throw new TypeError(`Module ${url} does not export loadEngineParts and loadTextSide`);
  }
  return mod as BackendModule;
}
