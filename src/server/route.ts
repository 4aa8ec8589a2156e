/**
 * What a route is: a method, a path and a handler given the app's shared parts. app.ts keeps the
 * one list of routes and answers 405 for the other methods on their paths.
 * @module
 */
import type { Context } from "hono";
import type { EngineApi } from "../engine/types.ts";
import type { ReasoningField } from "./chat_format.ts";
import type { EngineRef } from "./engine_ref.ts";
import type { Logger } from "./log.ts";
import type { ServerMetrics } from "./metrics.ts";

/** The app's shared parts a handler may use. */
export interface RouteDeps {
  engine: EngineRef;
  metrics: ServerMetrics;
  /** The name clients use for the model; null means the engine's modelId. */
  servedModelName: string | null;
  /** Where chat responses put the reasoning. */
  reasoningField: ReasoningField;
  /** Request lines and errors. */
  log: Logger;
}

/** One route of the app. */
export interface Route {
  method: "GET" | "POST";
  path: string;
  handle(c: Context, deps: RouteDeps): Response | Promise<Response>;
}

/** The model name clients see and must send. */
export function servedModel(deps: RouteDeps, engine: EngineApi): string {
  return deps.servedModelName ?? engine.modelId;
}
