/**
 * The OpenAI-compatible HTTP app: one list of routes, API keys on /v1, a body size limit, and
 * every error mapped once into OpenAI's error shape.
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { EngineApi } from "../engine/types.ts";
import { ApiError } from "./api_error.ts";
import { bearerAuth } from "./auth.ts";
import type { ReasoningField } from "./chat_format.ts";
import { EngineRef } from "./engine_ref.ts";
import { toApiError } from "./error_map.ts";
import { createLogger, type Logger } from "./log.ts";
import { openRequestCap } from "./open_requests.ts";
import { bodyDeadline } from "./body_deadline.ts";
import { ServerMetrics } from "./metrics.ts";
import type { Route, RouteDeps } from "./route.ts";
import { chatCompletionsRoute } from "./routes/chat_completions.ts";
import { completionsRoute } from "./routes/completions.ts";
import { healthRoute } from "./routes/health.ts";
import { kvRoute } from "./routes/kv.ts";
import { metricsRoute } from "./routes/metrics.ts";
import { getModelRoute, listModelsRoute } from "./routes/models.ts";
import { playgroundRoute } from "./routes/playground.ts";
import { detokenizeRoute, tokenizeRoute } from "./routes/tokenize.ts";

/** Options of createApp. */
export interface AppOptions {
  /** Bearer keys accepted on /v1/*; none means no authentication. /health and /metrics stay open. */
  apiKeys?: readonly string[];
  /** The model name clients send and see; defaults to the engine's modelId. */
  servedModelName?: string;
  /** Largest request body in bytes (default 8 MiB). */
  maxBodyBytes?: number;
  /** Where chat responses put the reasoning: `reasoning`, `reasoning_content`, or both (default). */
  reasoningField?: ReasoningField;
  /** Origins browsers may call the API from (`*` for any); none sends no CORS headers. */
  allowedOrigins?: readonly string[];
  /** Milliseconds a client gets to send its request body before a 408 (default 30 s). */
  bodyReadTimeoutMs?: number;
  /** Requests on /v1 served at once, streams included; more get 503 (default 1024). */
  maxOpenRequests?: number;
  /** Where request lines and errors go (default: warnings and errors on stderr). */
  logger?: Logger;
  /** Serve the playground page at `GET /` (default true). */
  ui?: boolean;
  /** True once the server is shutting down: /health and new requests then answer 503. */
  isDraining?: () => boolean;
}

const ROUTES: readonly Route[] = [
  healthRoute,
  metricsRoute,
  listModelsRoute,
  getModelRoute,
  chatCompletionsRoute,
  completionsRoute,
  kvRoute,
  playgroundRoute,
  tokenizeRoute,
  detokenizeRoute,
];

/**
 * Creates the app for an engine, or for the promise of one: until it resolves, /health and the
 * model routes answer 503.
 *
 * @example
 * ```ts ignore
 * Deno.serve({ port: 8000 }, createApp(engine, { apiKeys: ["sk-local"] }).fetch);
 * ```
 */
export function createApp(
  engine: EngineApi | Promise<EngineApi>,
  options: AppOptions = {},
): Hono {
  const deps: RouteDeps = {
    engine: new EngineRef(engine),
    metrics: new ServerMetrics(),
    servedModelName: options.servedModelName ?? null,
    reasoningField: options.reasoningField ?? "both",
    log: options.logger ?? createLogger("warn"),
  };
  const isDraining = options.isDraining ?? (() => false);
  const app = new Hono();
  app.onError((err, c) => sendError(c, err, deps.log));
  app.notFound((c) =>
    sendError(
      c,
      new ApiError(404, `Invalid URL (${c.req.method} ${c.req.path})`, { code: "unknown_url" }),
      deps.log,
    )
  );
  // before the key check: a browser's preflight carries no key
  if (options.allowedOrigins?.length) app.use("*", corsFor(options.allowedOrigins));
  if (options.apiKeys?.length) {
    for (const path of ["/v1/*", "/tokenize", "/detokenize"]) {
      app.use(path, bearerAuth(options.apiKeys));
    }
  }
  // a router stops sending once /health says so; a request still arriving is turned away
  app.use("*", async (c, next) => {
    if (c.req.method !== "GET" || c.req.path === "/health") {
      if (isDraining()) {
        throw new ApiError(503, "The server is shutting down", { code: "draining" });
      }
    }
    await next();
  });
  app.use("/v1/*", openRequestCap(options.maxOpenRequests ?? 1024));
  app.use("*", bodyDeadline(options.bodyReadTimeoutMs ?? 30_000));
  app.use(
    "*",
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 8 * 1024 * 1024,
      onError: () => {
        throw new ApiError(413, "The request body is too large", { code: "body_too_large" });
      },
    }),
  );
  const routes = ROUTES.filter((route) => route !== playgroundRoute || (options.ui ?? true));
  for (const route of routes) app.on(route.method, route.path, (c) => route.handle(c, deps));
  for (const [path, methods] of methodsByPath(routes)) {
    app.all(path, (c) => {
      throw new ApiError(405, `Method ${c.req.method} is not allowed on ${path}`, {
        code: "method_not_allowed",
        headers: { Allow: methods.join(", ") },
      });
    });
  }
  return app;
}

function corsFor(origins: readonly string[]) {
  return cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type"],
    maxAge: 600,
  });
}

function sendError(c: Context, err: unknown, log: Logger): Response {
  const apiError = toApiError(err);
  // load balancers poll /health: its 503s while loading are not news
  const line = `${c.req.method} ${c.req.path} ${apiError.status} ${apiError.options.code ?? ""}`;
  if (c.req.path === "/health") log.debug(line);
  else log.info(line);
  return c.json(apiError.toBody(), apiError.status, apiError.options.headers);
}

function methodsByPath(routes: readonly Route[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const route of routes) {
    byPath.set(route.path, [...byPath.get(route.path) ?? [], route.method]);
  }
  return byPath;
}
