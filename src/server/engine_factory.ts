/**
 * The one place the server constructs an engine from its serve configuration.
 * @module
 */
import type { EngineApi } from "../engine/types.ts";
import { modelDir, type ServeFlags } from "./flags.ts";

/** Loads the model that `flags` name and starts an engine configured by them. */
export function startEngine(flags: ServeFlags): Promise<EngineApi> {
  // the engine (src/engine/engine.ts) is being written; until createEngine is called here, say so
  return Promise.reject(
    new Error(
      `Cannot load ${modelDir(flags)}: no model engine is wired into the server yet ` +
        "(src/server/engine_factory.ts must call createEngine from src/engine/engine.ts)",
    ),
  );
}
