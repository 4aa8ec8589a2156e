/**
 * The id, model and creation time every chunk of one response repeats.
 * @module
 */

/** Identity of one response, shared by all its chunks. */
export interface ResponseIdentity {
  /** `chatcmpl-…` or `cmpl-…`. */
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
}

/** A fresh identity with an id like `chatcmpl-3f2a…` (OpenAI's prefixes). */
export function newIdentity(prefix: "chatcmpl" | "cmpl", model: string): ResponseIdentity {
  const id = `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;
  return { id, model, created: Math.floor(Date.now() / 1000) };
}
