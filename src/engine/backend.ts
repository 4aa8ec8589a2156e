/**
 * What loads a model for the engine, and what it hands over: the CPU side of a model (tokenizer,
 * chat template, think markers) and the runner that computes it. The WebGPU backend
 * (gpu_backend.ts) is the default; tests inject the fake runner's. Types only, so that every
 * engine module may import it without a cycle.
 * @module
 */
import type { KvProfile } from "../kv/profile.ts";
import type { ModelSpec } from "../model/spec.ts";
import type { Runner } from "../runner/types.ts";
import type { EngineConfig } from "./create_core.ts";
import type { ModelAbout } from "./summary.ts";
import type { ChatMessage, EncodeTextOptions } from "./types.ts";

/** Text ↔ ids, as the engine needs it. */
export interface EngineTokenizer {
  encode(text: string, options?: EncodeTextOptions): number[];
  decode(ids: readonly number[]): string;
}

/** The CPU side of a served model: what both the main thread and the engine Worker load. */
export interface ModelText {
  modelId: string;
  spec: Pick<
    ModelSpec,
    "numLayers" | "numKvHeads" | "headDim" | "eosTokenIds" | "maxPositionEmbeddings" | "vocabSize"
  >;
  tokenizer: EngineTokenizer;
  /** Think marker ids (null where the tokenizer has none). */
  markers: { openId: number | null; closeId: number | null };
  /** Renders the chat template; absent for a model without one. */
  renderChat?: (messages: readonly ChatMessage[], kwargs?: Record<string, unknown>) => string;
  profile?: KvProfile | null;
}

/** A model with the runner that computes it. */
export interface EngineParts extends ModelText {
  runner: Runner;
  /** The KV budget the runner's pools hold, when it is less than the config asked. */
  kvCacheMemory?: number;
  /** The model's size and the adapter, for the startup summary. */
  about?: ModelAbout;
}

/** The CPU-only part of a model the main thread needs (markers: to name them in the API). */
export type TextSide =
  & Pick<ModelText, "tokenizer" | "renderChat">
  & Partial<Pick<ModelText, "markers">>;

/** A backend: loads a model for the engine (GPU side) and for the main thread (text side). */
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
