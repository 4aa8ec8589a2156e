/**
 * Reads a JSON request body strictly: a JSON content type (or none, as curl users often send),
 * valid UTF-8, valid JSON, then the route's zod schema (its ZodError becomes a 400 in app.ts).
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, invalidRequest } from "./api_error.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses the request body as JSON and validates it with `schema`. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header("content-type");
  if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type.trim())) {
    throw new ApiError(415, `Content-Type must be application/json, not ${type}`, {
      code: "unsupported_media_type",
    });
  }
  let bytes: ArrayBuffer;
  try {
    bytes = await c.req.arrayBuffer();
  } catch {
    throw invalidRequest("The request body could not be read", null, "invalid_body");
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalidRequest("The request body is not valid UTF-8", null, "invalid_body");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw invalidRequest(`The request body is not valid JSON: ${why}`, null, "invalid_json");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalidRequest("The request body must be a JSON object", null, "invalid_body");
  }
  return schema.parse(json);
}
