import { assert, assertEquals } from "@std/assert";
import { KvArena } from "../src/kv/arena.ts";
import { SequenceKv } from "../src/kv/block_table.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { peakKvBytes } from "../src/kv/peak_bytes.ts";
import type { Phase } from "../src/kv/types.ts";

const LAYERS = 2;

function arenaFor(blockSize: number): KvArena {
  const layout = { numKvHeads: 2, blockSize, headDim: 32 };
  const f16 = kvDtype("f16").blockBytes(layout);
  return new KvArena({
    budgetBytes: 4096 * f16 * LAYERS,
    numLayers: LAYERS,
    blockBytes: (d) => kvDtype(d).blockBytes(layout),
    slabBytes: f16,
  });
}

/**
 * Grows one sequence as the engine does (the prompt in one chunk, then a token a step, think
 * then answer) and returns the most bytes it held and the bytes at its end.
 */
function grow(
  arena: KvArena,
  blockSize: number,
  recentTokens: number,
  dtypes: Record<Phase, string>,
  promptTokens: number,
  think: number,
  answer: number,
): { most: number; last: number } {
  const kv = new SequenceKv(arena, { blockSize, recentTokens, dtypeFor: (p) => dtypes[p] });
  const phases: Phase[] = [...Array(think).fill("think"), ...Array(answer).fill("answer")];
  assert(kv.append(Array(promptTokens).fill("prompt")) !== null);
  let most = kv.bytesHeld();
  for (const phase of phases) {
    assert(kv.append([phase]) !== null);
    most = Math.max(most, kv.bytesHeld());
  }
  const last = kv.bytesHeld();
  kv.free();
  return { most, last };
}

Deno.test("peakKvBytes() bounds what a sequence holds over its whole life, and stays close to it", () => {
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const ladder = ["f16", "int8", "int4", "int3"];
  for (let trial = 0; trial < 300; trial++) {
    const blockSize = [4, 8, 16][random(3)];
    const recentTokens = [0, 4, 8, 16, 24][random(5)];
    const dtypes = {
      prompt: ladder[random(4)],
      think: ladder[random(4)],
      answer: ladder[random(4)],
    };
    const promptTokens = 1 + random(40);
    const outputTokens = 1 + random(120);
    const think = random(outputTokens + 1);
    const arena = arenaFor(blockSize);
    const { most, last } = grow(
      arena,
      blockSize,
      recentTokens,
      dtypes,
      promptTokens,
      think,
      outputTokens - think,
    );
    const wider = arena.blockBytes(dtypes.think) >= arena.blockBytes(dtypes.answer)
      ? dtypes.think
      : dtypes.answer;
    const peak = peakKvBytes(arena, {
      blockSize,
      recentTokens,
      promptTokens,
      outputTokens,
      promptDtype: dtypes.prompt,
      outputDtype: wider,
    });
    const what = JSON.stringify({ blockSize, recentTokens, dtypes, promptTokens, outputTokens });
    assert(most <= peak, `${what}: held ${most} > estimate ${peak}`);
    // where both output phases share a dtype: at most three f16 blocks above the end
    const slack = 3 * arena.blockBytes("f16") * LAYERS;
    if (dtypes.think === dtypes.answer) {
      assert(peak - last <= slack, `${what}: estimate ${peak} − end ${last} > ${slack}`);
    }
    assertEquals(arena.bytesUsed(), 0);
  }
});

Deno.test("peakKvBytes() counts an f16 sequence's blocks exactly", () => {
  const arena = arenaFor(8);
  const f16 = arena.blockBytes("f16") * LAYERS;
  const shape = { blockSize: 8, recentTokens: 8, promptDtype: "f16", outputDtype: "f16" };
  // 20 prompt tokens: 3 blocks; 93 output tokens: 12 blocks and one a phase change may split
  assertEquals(peakKvBytes(arena, { ...shape, promptTokens: 20, outputTokens: 93 }), 16 * f16);
  assertEquals(peakKvBytes(arena, { ...shape, promptTokens: 20, outputTokens: 0 }), 3 * f16);
});

Deno.test("peakKvBytes() keeps the window f16 and seals the rest at each part's dtype", () => {
  const arena = arenaFor(8);
  const bb = (d: string) => arena.blockBytes(d) * LAYERS;
  const peak = peakKvBytes(arena, {
    blockSize: 8,
    recentTokens: 8,
    promptTokens: 16,
    outputTokens: 40,
    promptDtype: "int8",
    outputDtype: "int4",
  });
  // 2 prompt blocks, 6 output blocks; the newest 3 (window, open, one partial) stay f16
  assertEquals(peak, 3 * bb("f16") + 2 * bb("int8") + 3 * bb("int4"));
});
