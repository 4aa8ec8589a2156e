import { assertEquals, assertThrows } from "@std/assert";
import { KvArena } from "../src/kv/arena.ts";
import { SequenceKv } from "../src/kv/block_table.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { PrefixCache } from "../src/kv/prefix_cache.ts";
import type { Phase } from "../src/kv/types.ts";

const LAYOUT = { numKvHeads: 1, blockSize: 4, headDim: 32 };
const PROMPT = Array.from({ length: 14 }, (_, i) => 100 + i);

function setup() {
  const arena = new KvArena({
    budgetBytes: 64 * kvDtype("f16").blockBytes(LAYOUT),
    numLayers: 1,
    blockBytes: (d) => kvDtype(d).blockBytes(LAYOUT),
  });
  return { arena, cache: new PrefixCache(arena) };
}

function table(arena: KvArena, cache: PrefixCache, prompt: string, promptIds = PROMPT) {
  return new SequenceKv(arena, {
    blockSize: 4,
    dtypeFor: (p: Phase) => p === "prompt" ? prompt : "f16",
    recentTokens: 0,
    prefix: { cache, promptIds },
  });
}

/** Prefills the prompt and one generated token, so every full prompt block is final. */
function prefill(kv: SequenceKv, promptLength = PROMPT.length) {
  const start = kv.numTokens;
  kv.append(Array.from({ length: promptLength - start }, () => "prompt"));
  kv.append(["answer"]);
}

Deno.test("PrefixCache: a later table adopts the full prompt blocks of the same dtype only", () => {
  const { arena, cache } = setup();
  const a = table(arena, cache, "int4");
  prefill(a);
  assertEquals(cache.size, 3); // 14 tokens: three full blocks
  const f16 = table(arena, cache, "f16");
  assertEquals(f16.adoptPrefix(), 0); // an int4 block never serves an f16 table
  const b = table(arena, cache, "int4");
  assertEquals(b.adoptPrefix(), 12);
  assertEquals(b.blocks.map((x) => x.offset), a.blocks.slice(0, 3).map((x) => x.offset));
  assertEquals(cache.refs(a.blocks[0].offset), 2);
  // a different first block breaks the chain at once
  const other = table(arena, cache, "int4", [1, ...PROMPT.slice(1)]);
  assertEquals(other.adoptPrefix(), 0);
  // shared blocks are never demoted nor freed while referenced
  assertThrows(() => b.demote(0, "int2"), RangeError);
  a.free();
  assertEquals(cache.evict(10), 0);
  b.free();
  f16.free();
  other.free();
  assertEquals(cache.evict(10), 3);
  assertEquals(arena.bytesUsed(), 0);
});

Deno.test("PrefixCache: the last prompt token is always computed, and the window is never shared", () => {
  const { arena, cache } = setup();
  const exact = PROMPT.slice(0, 12); // three full blocks exactly
  const a = table(arena, cache, "f16", exact);
  prefill(a, exact.length);
  const b = table(arena, cache, "f16", exact);
  assertEquals(b.adoptPrefix(), 8); // the third block holds the token that samples
  const windowed = new SequenceKv(arena, {
    blockSize: 4,
    dtypeFor: (p: Phase) => p === "prompt" ? "int8" : "f16",
    recentTokens: 8,
    prefix: { cache, promptIds: PROMPT },
  });
  prefill(windowed);
  // blocks end at 4, 8, 12; with 15 tokens and R = 8 only the first left the window
  assertEquals(cache.size, 3 + 1);
  const c = new SequenceKv(arena, {
    blockSize: 4,
    dtypeFor: (p: Phase) => p === "prompt" ? "int8" : "f16",
    recentTokens: 8,
    prefix: { cache, promptIds: PROMPT },
  });
  // a miss would have sealed only blocks with 8 tokens behind them at the prompt's end: one
  assertEquals(c.adoptPrefix(), 4);
  for (const kv of [a, b, windowed, c]) kv.free();
  cache.clear();
  assertEquals(arena.bytesUsed(), 0);
});
