/**
 * Messages between the main-thread engine proxy and the engine Worker, and how errors cross
 * the boundary with their names (the server maps errors to HTTP statuses by class).
 * @module
 */
import { UnknownKvDtypeError } from "../kv/dtype.ts";
import type { KvPolicy } from "../kv/policy.ts";
import { KvCapacityError } from "./capacity_error.ts";
import type { EngineConfig } from "./create_core.ts";
import { ContextLengthError, QueueFullError } from "./errors.ts";
import type { EngineSummary } from "./summary.ts";
import type { BlockMapEntry, EngineStats, GenerateOutput, GenerateRequest } from "./types.ts";

/** What the Worker is started with. */
export interface WorkerInit {
  model: string;
  config: EngineConfig;
}

/** Main thread → Worker. */
export type ToWorker =
  | { type: "init"; init: WorkerInit }
  | { type: "generate"; id: number; request: GenerateRequest }
  | { type: "abort"; id: number }
  /** Asks for a fresh snapshot of stats and block map. */
  | { type: "refresh" }
  | { type: "close" };

/** Worker → main thread. */
export type FromWorker =
  | {
    type: "ready";
    modelId: string;
    maxModelLen: number;
    kvPolicy: KvPolicy;
    snapshot: EngineSnapshot;
    summary: EngineSummary;
  }
  | { type: "initFailed"; error: WireError }
  | { type: "progress"; message: string }
  | { type: "output"; id: number; output: GenerateOutput }
  | { type: "failed"; id: number; error: WireError }
  | { type: "snapshot"; snapshot: EngineSnapshot }
  | { type: "closed" };

/** Stats and block map as of one moment in the Worker. */
export interface EngineSnapshot {
  stats: EngineStats;
  blockMap: BlockMapEntry[];
}

/** An error as it crosses postMessage. */
export interface WireError {
  name: string;
  message: string;
  /** Constructor arguments of the named errors that carry data. */
  args?: (string | number)[];
}

/** Flattens an error for postMessage. */
export function toWire(error: unknown): WireError {
  if (error instanceof ContextLengthError) {
    return { name: error.name, message: error.message, args: [error.requested, error.maxModelLen] };
  }
  if (error instanceof KvCapacityError) {
    return {
      name: error.name,
      message: error.message,
      args: [error.neededBytes, error.budgetBytes],
    };
  }
  if (error instanceof UnknownKvDtypeError) {
    return { name: error.name, message: error.message, args: [error.dtype] };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** Rebuilds the error class the server maps (named engine errors, RangeError, TypeError). */
export function fromWire(wire: WireError): Error {
  const [a, b] = wire.args ?? [];
  switch (wire.name) {
    case "ContextLengthError":
      return new ContextLengthError(Number(a), Number(b));
    case "KvCapacityError":
      return new KvCapacityError(Number(a), Number(b));
    case "UnknownKvDtypeError":
      return new UnknownKvDtypeError(String(a));
    case "QueueFullError": {
      const error = new QueueFullError(0);
      error.message = wire.message;
      return error;
    }
    case "RangeError":
      return new RangeError(wire.message);
    case "TypeError":
      return new TypeError(wire.message);
  }
  const error = new Error(wire.message);
  error.name = wire.name;
  return error;
}
