/**
 * The one mapping from what can go wrong in a request to the HTTP error the client sees;
 * app.ts's onError and an already-started stream both use it.
 * @module
 */
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { KvCapacityError } from "../engine/capacity_error.ts";
import { ContextLengthError, QueueFullError } from "../engine/errors.ts";
import { ApiError, invalidRequest } from "./api_error.ts";
import { SubmitRefusedError } from "./generation.ts";

/** The ApiError to answer `err` with; errors nobody expected become a logged 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return fromZod(err);
  if (err instanceof QueueFullError) return queueFull(err);
  if (err instanceof SubmitRefusedError) return fromRefusal(err.cause);
  if (err instanceof HTTPException) {
    return new ApiError(err.status, err.message || "The request was refused");
  }
  console.error("phasekv: unexpected error", err);
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, `Internal server error: ${message}`);
}

/** `messages[0].content` from a zod issue path. */
export function paramOf(path: readonly PropertyKey[]): string | null {
  let param = "";
  for (const key of path) {
    param += typeof key === "number" ? `[${key}]` : `${param ? "." : ""}${String(key)}`;
  }
  return param || null;
}

// the engine's submit-time errors, by class (they keep it across the Worker boundary)
function fromRefusal(cause: unknown): ApiError {
  if (cause instanceof QueueFullError) return queueFull(cause);
  if (cause instanceof ContextLengthError) {
    return invalidRequest(cause.message, null, "context_length_exceeded");
  }
  if (cause instanceof KvCapacityError) {
    return invalidRequest(cause.message, null, "kv_cache_capacity_exceeded");
  }
  // the engine's contract: RangeError and TypeError at submit mean a bad request
  if (cause instanceof RangeError || cause instanceof TypeError) {
    return invalidRequest(cause.message, null, "invalid_request");
  }
  if (cause instanceof DOMException && cause.name === "AbortError") {
    return invalidRequest("The client cancelled the request", null, "cancelled");
  }
  return toApiError(cause);
}

function queueFull(err: QueueFullError): ApiError {
  return new ApiError(503, err.message, { code: "queue_full", headers: { "Retry-After": "1" } });
}

function fromZod(err: z.ZodError): ApiError {
  const issue = err.issues[0];
  const param = paramOf(issue.path);
  const message = param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
  return invalidRequest(message, param, "invalid_value");
}
