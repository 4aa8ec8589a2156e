/**
 * The full-precision recent window: a closed block is sealed only once R newer tokens stand
 * behind it, across phase changes, rewinds and frees, and the arena gets every byte back.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { KvArena } from "../src/kv/arena.ts";
import { SequenceKv } from "../src/kv/block_table.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import type { Phase } from "../src/kv/types.ts";

const LAYOUT = { numKvHeads: 2, blockSize: 4, headDim: 32 };
const F16 = kvDtype("f16").blockBytes(LAYOUT);
const blockBytes = (dtype: string) => kvDtype(dtype).blockBytes(LAYOUT);
const POLICY: Record<Phase, string> = { prompt: "int8", think: "int4", answer: "int3" };

function setup(recentTokens: number, f16Blocks = 64) {
  const arena = new KvArena({
    budgetBytes: f16Blocks * F16 * 2,
    numLayers: 2,
    blockBytes,
    slabBytes: F16,
  });
  const opts = { blockSize: 4, dtypeFor: (p: Phase) => POLICY[p], recentTokens };
  return { arena, seq: new SequenceKv(arena, opts) };
}

const rep = (phase: Phase, n: number): Phase[] => Array(n).fill(phase);
const shape = (seq: SequenceKv) => seq.blocks.map((b) => `${b.phase}:${b.dtype}:${b.tokens}`);

Deno.test("SequenceKv keeps a full block f16 until R newer tokens stand behind it", () => {
  const { seq } = setup(4);
  seq.append(rep("think", 4));
  // the block is full, but only 1..3 tokens stand behind it
  for (let i = 0; i < 3; i++) assertEquals(seq.append(["think"]), []);
  assertEquals(shape(seq), ["think:f16:4", "think:f16:3"]);
  // the 4th token behind it: sealed before the step that writes that token
  const seals = seq.append(["think"])!;
  assertEquals(seals.map((s) => [s.dtype, s.tokens]), [["int4", 4]]);
  assertEquals(shape(seq), ["think:int4:4", "think:f16:4"]);
  // the newest R tokens are always f16
  for (let i = 0; i < 9; i++) seq.append(["think"]);
  assertEquals(shape(seq), [
    "think:int4:4",
    "think:int4:4",
    "think:int4:4",
    "think:f16:4",
    "think:f16:1",
  ]);
});

Deno.test("SequenceKv with R = 0 seals a block at the first append after it closes", () => {
  const { seq } = setup(0);
  seq.append(rep("think", 4));
  assertEquals(seq.append(["think"])!.length, 1);
  assertEquals(shape(seq), ["think:int4:4", "think:f16:1"]);
});

Deno.test("SequenceKv: a block closed by a phase change inside the window waits, then seals alone", () => {
  const { seq } = setup(6);
  seq.append(rep("prompt", 6)); // prompt:4, prompt:2
  assertEquals(seq.append(["think"]), []); // phase change closes the partial prompt block
  assertEquals(shape(seq), ["prompt:f16:4", "prompt:f16:2", "think:f16:1"]);
  // 6 tokens behind the first prompt block: 2 prompt + 4 think
  seq.append(rep("think", 2));
  const first = seq.append(["think"])!;
  assertEquals(first.map((s) => [s.dtype, s.tokens]), [["int8", 4]]);
  assertEquals(shape(seq), ["prompt:int8:4", "prompt:f16:2", "think:f16:4"]);
  seq.append(rep("think", 1));
  const second = seq.append(["answer"])!; // think block full; answer starts; 6 behind prompt:2
  assertEquals(second.map((s) => [s.dtype, s.tokens]), [["int8", 2]]);
  assertEquals(shape(seq), [
    "prompt:int8:4",
    "prompt:int8:2",
    "think:f16:4",
    "think:f16:1",
    "answer:f16:1",
  ]);
  for (const b of seq.blocks) assert(b.tokens <= 4);
});

Deno.test("SequenceKv: a rewind into the window reopens the f16 block and seals it later", () => {
  const { arena, seq } = setup(4);
  seq.append(rep("think", 10)); // think:4, think:4, think:2 (nothing sealed: same append)
  seq.append(["think"]); // block 0 has 7 behind: sealed
  assertEquals(shape(seq), ["think:int4:4", "think:f16:4", "think:f16:3"]);
  // a late phase change: the marker was token 6, so keep 6 and re-feed as answer
  assertEquals(seq.truncate(6), 6);
  assertEquals(shape(seq), ["think:int4:4", "think:f16:2"]);
  // the f16 block was never quantized, so it takes think tokens again
  seq.append(["think"]);
  assertEquals(shape(seq), ["think:int4:4", "think:f16:3"]);
  seq.append(rep("answer", 3));
  const seals = seq.append(["answer"])!;
  assertEquals(seals.map((s) => [s.dtype, s.tokens]), [["int4", 3]]);
  assertEquals(shape(seq), ["think:int4:4", "think:int4:3", "answer:f16:4"]);
  seq.free();
  assertEquals(arena.bytesUsed(), 0);
});

Deno.test("SequenceKv: bytesToAppend counts the seals the window allows, no more", () => {
  const { seq } = setup(4);
  seq.append(rep("think", 4));
  seq.append(rep("think", 2));
  // one more token: 3 behind, no seal, no new block
  assertEquals(seq.bytesToAppend(["think"]), 0);
  seq.append(["think"]);
  // the 4th token behind block 0: its int4 block, and the open block has room
  assertEquals(seq.bytesToAppend(["think"]), blockBytes("int4") * 2);
});

Deno.test("SequenceKv rejects a negative window", () => {
  const arena = new KvArena({ budgetBytes: F16 * 8, numLayers: 2, blockBytes, slabBytes: F16 });
  assertThrows(
    () => new SequenceKv(arena, { blockSize: 4, dtypeFor: () => "int4", recentTokens: -1 }),
    RangeError,
    "recentTokens",
  );
});

Deno.test("SequenceKv: randomized appends, rewinds and frees honour the window and free every byte", () => {
  let state = 12345;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  for (const recent of [0, 3, 4, 9, 16]) {
    const { arena, seq } = setup(recent, 256);
    const phases: Phase[] = ["prompt", "think", "answer"];
    let phase = 0;
    for (let step = 0; step < 300; step++) {
      const r = rand(10);
      if (r === 0 && seq.numTokens > 0) {
        seq.truncate(rand(seq.numTokens));
        continue;
      }
      if (r === 1 && phase < 2) phase++;
      if (r === 2) {
        seq.free();
        phase = 0;
        assertEquals(arena.bytesUsed(), 0);
        continue;
      }
      const n = r === 3 ? 1 + rand(12) : 1;
      const before = seq.numTokens;
      const seals = seq.append(rep(phases[phase], n));
      assert(seals !== null, "the arena is large enough");
      // every block sealed now has at least R tokens behind it, counting this append
      let end = 0;
      for (const b of seq.blocks) {
        end += b.tokens;
        if (seals.some((s) => s.dst === b.offset)) {
          assert(before + n - end >= recent, `sealed with ${before + n - end} behind, R=${recent}`);
        }
      }
      // and every block still f16 with a quantized phase is inside the window or was just made
      end = 0;
      for (const b of seq.blocks) {
        end += b.tokens;
        const closed = b !== seq.blocks.at(-1);
        if (b.dtype === "f16" && closed && end <= before && before + n - end >= recent) {
          // closed before this append with R behind: it must have been sealed
          assert(false, `block ending at ${end} left f16 with ${before + n - end} behind`);
        }
      }
      // no block mixes phases and none overflows
      for (const b of seq.blocks) assert(b.tokens >= 1 && b.tokens <= 4);
    }
    seq.free();
    assertEquals(arena.bytesUsed(), 0, `R=${recent}`);
  }
});

Deno.test("SequenceKv demotes to fewer mean bits only: int4 to k4v3 to int3, never back", () => {
  const { arena, seq } = setup(0);
  seq.append(rep("think", 8));
  seq.append(["think"]);
  assertEquals(shape(seq).slice(0, 2), ["think:int4:4", "think:int4:4"]);
  // k4v3 keeps int4's keys and narrows the values: fewer bits, so a demotion
  const op = seq.demote(0, "k4v3")!;
  assertEquals([op.srcDtype, op.dtype], ["int4", "k4v3"]);
  assertEquals(seq.blocks[0].dtype, "k4v3");
  assertThrows(() => seq.demote(0, "int4"), RangeError, "Cannot demote");
  assertThrows(() => seq.demote(0, "k4v3"), RangeError, "Cannot demote");
  assertEquals(seq.demote(0, "int3")!.srcDtype, "k4v3");
  seq.free();
  assertEquals(arena.bytesUsed(), 0);
});
