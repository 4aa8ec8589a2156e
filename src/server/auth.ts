/**
 * Bearer API keys (`Authorization: Bearer <key>`), several allowed as in llama.cpp's server.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "./api_error.ts";

/** Middleware that answers 401 unless the request carries one of `keys`. */
export function bearerAuth(keys: readonly string[]): MiddlewareHandler {
  // comparing fixed-length digests in constant time leaks neither the keys nor their lengths
  const digests = keys.map(digest);
  return async (c, next) => {
    const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
    if (!match) throw unauthorized("Missing API key: send 'Authorization: Bearer <key>'");
    const given = digest(match[1].trim());
    if (!digests.some((d) => timingSafeEqual(d, given))) throw unauthorized("Incorrect API key");
    await next();
  };
}

function digest(key: string): Uint8Array {
  return createHash("sha256").update(key).digest();
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message, {
    code: "invalid_api_key",
    headers: { "WWW-Authenticate": 'Bearer realm="phasekv"' },
  });
}
