/**
 * A head_dim-128 sequence (the R1-1.5B KV shape) prefills and decodes past the ~460 tokens at
 * which lavapipe's loop bound stopped the old attention kernel, with its prompt blocks sealed to
 * int4 so that the long table mixes dtypes. bench/long_context.ts runs the same at 4k tokens.
 */
import { assertEquals } from "@std/assert";
import { runLongContext } from "../bench/long_context.ts";

Deno.test("engine prefills 1k tokens at head_dim 128 with int4 prompt blocks and decodes on", async () => {
  const r = await runLongContext({ promptTokens: 1024, decodeTokens: 4, kvCacheDtype: "int4" });
  assertEquals([r.generated, r.finishReason], [4, "length"]);
});
