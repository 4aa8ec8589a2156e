import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { loadTokenizer, Tokenizer } from "../src/model/tokenizer.ts";
import { TokenizerError } from "../src/model/errors.ts";
import {
  TINY_VOCAB_SIZE,
  tinyTokenId,
  tinyTokenizerConfigJson,
  tinyTokenizerJson,
  writeTinyTokenizer,
} from "./helpers/tiny_tokenizer.ts";

const STORIES = new URL("../../shared/models/stories260k", import.meta.url).pathname;
const hasStories = await Deno.stat(`${STORIES}/tokenizer.json`).then(() => true, () => false);

function tiny(): Tokenizer {
  return new Tokenizer(tinyTokenizerJson(), tinyTokenizerConfigJson());
}

Deno.test("Tokenizer.encode() applies merges and adds BOS only when asked", () => {
  const t = tiny();
  const bos = tinyTokenId("<|begin|>");
  const ids = t.encode("the cat", { addSpecialTokens: false });
  // "t" + "he" (merge), then " c" "a" "t" as single bytes: Ġ (space) is byte 32.
  assertEquals(ids, [116, t.tokenId("he")!, 32, 99, 97, 116]);
  assertEquals(t.encode("the cat"), [bos, ...ids]);
});

Deno.test("Tokenizer.decode() round-trips UTF-8 text and keeps think markers when skipping", () => {
  const t = tiny();
  const text = "<|User|>héllo 🙂 wörld<|Assistant|><think>\nhmm</think>ok<|end|>";
  const ids = t.encode(text, { addSpecialTokens: false });
  assert(ids.includes(tinyTokenId("<think>")));
  assertEquals(t.decode(ids), text);
  // <think> is an added token but not a special one, as in R1 and Qwen tokenizers.
  assertEquals(t.decode(ids, { skipSpecialTokens: true }), "héllo 🙂 wörld<think>\nhmm</think>ok");
});

Deno.test("Tokenizer exposes vocab size, added tokens, bos/eos and the chat template", () => {
  const t = tiny();
  assertEquals(t.vocabSize, TINY_VOCAB_SIZE);
  assertEquals(t.tokenId("<think>"), tinyTokenId("<think>"));
  assertEquals(t.tokenId("no such token"), null);
  assertEquals(t.tokenContent(tinyTokenId("</think>")), "</think>");
  assertEquals([t.bosToken, t.bosTokenId], ["<|begin|>", tinyTokenId("<|begin|>")]);
  assertEquals([t.eosToken, t.eosTokenId], ["<|end|>", tinyTokenId("<|end|>")]);
  assertEquals(t.addedTokens.find((a) => a.content === "</think>")?.special, false);
  assertStringIncludes(t.chatTemplate!, "add_generation_prompt");
});

Deno.test("loadTokenizer() reads a folder and names a missing or broken tokenizer.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(() => loadTokenizer(dir), TokenizerError, "tokenizer.json");
    await writeTinyTokenizer(dir);
    assertEquals((await loadTokenizer(dir)).vocabSize, TINY_VOCAB_SIZE);
    await Deno.writeTextFile(`${dir}/tokenizer.json`, '{"model": {"type": "Nope"}}');
    await assertRejects(() => loadTokenizer(dir), TokenizerError, "@huggingface/tokenizers");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "loadTokenizer() round-trips text with the stories260k tokenizer",
  ignore: !hasStories,
  fn: async () => {
    const t = await loadTokenizer(STORIES);
    assertEquals([t.vocabSize, t.bosTokenId, t.eosTokenId], [512, 1, 2]);
    const text = "Once upon a time, there was a little girl named Lily.";
    const ids = t.encode(text);
    assertEquals(ids[0], 1);
    assertEquals(t.decode(ids, { skipSpecialTokens: true }), text);
  },
});
