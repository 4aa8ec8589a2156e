/**
 * phasekv: an edge serving runtime for reasoning models that stores each phase of a sequence
 * (prompt, think, answer) in the KV cache at its own precision, on WebGPU.
 * @module
 */
export type {
  ArchName,
  HostTensor,
  LoadedCheckpoint,
  ModelSpec,
  TensorDtype,
} from "./src/model/spec.ts";
export type { BlockEntry, Phase } from "./src/kv/types.ts";
export { PHASES } from "./src/kv/types.ts";
export type { SamplingParams } from "./src/runner/types.ts";
export type {
  FinishReason,
  GenerateOutput,
  GenerateRequest,
  GenerateUsage,
  PhaseKvUsage,
} from "./src/engine/types.ts";
