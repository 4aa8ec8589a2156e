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
  } catch (err) {
    // the read deadline (body_deadline.ts) ends the read with its own 408
    if (err instanceof ApiError) throw err;
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
  checkDepth(json as Record<string, unknown>);
  return schema.parse(json);
}

/** How deeply a body may nest: far more than any real request, far less than the stack. */
export const MAX_BODY_DEPTH = 64;

// checked without recursion, before the schema or a chat template walks it recursively
function checkDepth(body: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(body)) {
    const stack: [unknown, number][] = [[value, 1]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (typeof node !== "object" || node === null) continue;
      if (depth > MAX_BODY_DEPTH) {
        throw invalidRequest(
          `Invalid value for '${field}': nested more than ${MAX_BODY_DEPTH} levels deep`,
          field,
          "invalid_value",
        );
      }
      for (const child of Object.values(node)) stack.push([child, depth + 1]);
    }
  }
}
