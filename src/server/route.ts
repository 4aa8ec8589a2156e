/**
 * What a route is: a method, a path and a handler given the app's shared parts. app.ts keeps the
 * one list of routes and answers 405 for the other methods on their paths.
 * @module
 */
import type { Context } from "hono";
import { QueueFullError } from "../engine/errors.ts";
import type { EngineApi } from "../engine/types.ts";
import type { EngineRef } from "./engine_ref.ts";
import type { ServerMetrics } from "./metrics.ts";

/** The app's shared parts a handler may use. */
export interface RouteDeps {
  engine: EngineRef;
  metrics: ServerMetrics;
  /** The name clients use for the model; null means the engine's modelId. */
  servedModelName: string | null;
  /** Requests may wait in the engine's queue up to this many; then new ones get 503. */
  maxWaiting: number;
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

/** Throws QueueFullError (503) when the engine already has `maxWaiting` requests waiting. */
export function admit(deps: RouteDeps, engine: EngineApi): void {
  if (engine.stats().numWaiting >= deps.maxWaiting) throw new QueueFullError(deps.maxWaiting);
}
