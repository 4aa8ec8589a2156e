/**
 * The one place the server constructs an engine from its serve configuration.
 * @module
 */
import { createEngine, type EngineOptions } from "../engine/engine.ts";
import type { EngineApi } from "../engine/types.ts";
import { modelDir, type ServeFlags } from "./flags.ts";

/** How the server starts its engine: in a Worker (the default) or on this thread. */
export interface StartEngineOptions {
  /** Where loading messages go (default: stderr, prefixed with `phasekv:`). */
  onProgress?: (message: string) => void;
  /** Run the engine on the calling thread (tests, tools); the server keeps it in a Worker. */
  inProcess?: boolean;
}

/** The engine options the serve flags name; flags left unset keep the engine's defaults. */
export function engineOptions(flags: ServeFlags, options: StartEngineOptions = {}): EngineOptions {
  return {
    model: modelDir(flags),
    kvCacheMemory: flags.kvCacheMemory,
    kvCacheDtype: flags.kvCacheDtype,
    kvCacheDtypeThink: flags.kvCacheDtypeThink,
    kvCacheDtypeAnswer: flags.kvCacheDtypeAnswer,
    kvProfile: flags.kvProfile,
    weightsDtype: flags.weightsDtype,
    thinkFraction: flags.thinkFraction,
    kvRecentTokens: flags.kvRecentTokens,
    blockSize: flags.blockSize,
    maxNumSeqs: flags.maxNumSeqs,
    maxWaiting: flags.maxWaiting,
    onProgress: options.onProgress ?? logProgress,
    inProcess: options.inProcess,
  };
}

/** Loads the model that `flags` name and starts an engine configured by them. */
export function startEngine(flags: ServeFlags, options?: StartEngineOptions): Promise<EngineApi> {
  return createEngine(engineOptions(flags, options));
}

// stdout is for the URL and request logs a user reads; loading chatter goes to stderr
function logProgress(message: string): void {
  console.error(`phasekv: ${message}`);
}
