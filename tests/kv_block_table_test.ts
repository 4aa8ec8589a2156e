import { assert, assertEquals, assertThrows } from "@std/assert";
import { KvArena } from "../src/kv/arena.ts";
import { SequenceKv } from "../src/kv/block_table.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import type { Phase } from "../src/kv/types.ts";

const LAYOUT = { numKvHeads: 2, blockSize: 4, headDim: 32 };
const F16 = kvDtype("f16").blockBytes(LAYOUT);
const blockBytes = (dtype: string) => kvDtype(dtype).blockBytes(LAYOUT);
const POLICY: Record<Phase, string> = { prompt: "f16", think: "int4", answer: "int8" };

function setup(f16Blocks: number, policy = POLICY) {
  const arena = new KvArena({
    budgetBytes: f16Blocks * F16 * 2,
    numLayers: 2,
    blockBytes,
    slabBytes: F16,
  });
  const seq = new SequenceKv(arena, { blockSize: 4, dtypeFor: (p) => policy[p] });
  return { arena, seq };
}

const rep = (phase: Phase, n: number): Phase[] => Array(n).fill(phase);
const shape = (seq: SequenceKv) => seq.blocks.map((b) => `${b.phase}:${b.dtype}:${b.tokens}`);

Deno.test("SequenceKv.append() fills f16 blocks and seals them lazily", () => {
  const { seq } = setup(8);
  assertEquals(seq.append(rep("think", 6)), []);
  assertEquals(shape(seq), ["think:f16:4", "think:f16:2"]);
  const full = seq.blocks[0].offset;
  const seals = seq.append(["think"])!;
  assertEquals(seals.length, 1);
  assertEquals(seals[0].src, full);
  assertEquals(seals[0].dtype, "int4");
  assertEquals(seals[0].tokens, 4);
  assertEquals(seq.blocks[0].offset, seals[0].dst);
  assertEquals(shape(seq), ["think:int4:4", "think:f16:3"]);
  assertEquals(seq.numTokens, 7);
});

Deno.test("SequenceKv.append() starts a new block at a phase change and seals the partial one", () => {
  const { seq } = setup(8);
  seq.append(rep("think", 2));
  // the think block was written by earlier steps, so it is sealed before the answer token
  const seals = seq.append(["answer"])!;
  assertEquals(seals.map((s) => [s.dtype, s.tokens]), [["int4", 2]]);
  assertEquals(shape(seq), ["think:int4:2", "answer:f16:1"]);
  assertEquals(seq.append(["answer"]), []);
  assertEquals(shape(seq), ["think:int4:2", "answer:f16:2"]);
});

Deno.test("SequenceKv closes blocks of an f16 phase without a seal", () => {
  const { seq } = setup(8);
  seq.append(rep("prompt", 5));
  const before = seq.blocks[0].offset;
  assertEquals(seq.append(["think"]), []);
  assertEquals(seq.blocks[0].offset, before);
  assertEquals(shape(seq), ["prompt:f16:4", "prompt:f16:1", "think:f16:1"]);
  assertEquals(seq.append(["think"]), []);
  // the closed prompt block takes no more tokens even though it has room
  seq.append(["prompt"]);
  assertEquals(shape(seq).at(-1), "prompt:f16:1");
  assertEquals(seq.blocks.length, 4);
});

Deno.test("SequenceKv.append() returns null and changes nothing when the arena is full", () => {
  const { arena, seq } = setup(2);
  seq.append(rep("think", 8)); // two full f16 blocks, nothing free
  const before = JSON.stringify(seq.blocks);
  const used = arena.bytesUsed();
  assertEquals(seq.bytesToAppend(["think"]), (2 * blockBytes("int4") + F16) * 2);
  // the int4 block needs an empty slab before any f16 source is freed
  assertEquals(seq.append(["think"]), null);
  assertEquals(JSON.stringify(seq.blocks), before);
  assertEquals(arena.bytesUsed(), used);
  assertEquals(seq.numTokens, 8);
});

Deno.test("SequenceKv.append() reuses a sealed block's f16 source in the same call", () => {
  // two slabs: one f16, one int2; the new open block fits only where the sealed one was
  const { arena, seq } = setup(2, { prompt: "f16", think: "int2", answer: "int2" });
  seq.append(rep("think", 4));
  seq.append(rep("think", 4));
  assertEquals(shape(seq), ["think:int2:4", "think:f16:4"]);
  const seals = seq.append(["think"])!;
  assertEquals(seals[0].src, seq.blocks[2].offset);
  assertEquals(shape(seq), ["think:int2:4", "think:int2:4", "think:f16:1"]);
  assertEquals(arena.bytesUsed(), (2 * blockBytes("int2") + F16) * 2);
});

Deno.test("SequenceKv.append() rolls back seals already done when an open block does not fit", () => {
  const { arena, seq } = setup(2, { prompt: "f16", think: "int2", answer: "int2" });
  seq.append(rep("think", 4));
  seq.append(rep("think", 4));
  const before = JSON.stringify(seq.blocks);
  const used = arena.bytesUsed();
  // the seal fits and frees its source, the first open block takes it, the second finds no room
  assertEquals(seq.append(rep("think", 5)), null);
  assertEquals(JSON.stringify(seq.blocks), before);
  assertEquals(arena.bytesUsed(), used);
  assertEquals(arena.slabsByDtype(), { f16: 1, int2: 1 });
  assertEquals(seq.append(rep("think", 4))?.length, 1);
});

Deno.test("SequenceKv.truncate() keeps f16 blocks partially and sealed blocks whole", () => {
  const { arena, seq } = setup(8);
  seq.append(rep("think", 8));
  seq.append(rep("answer", 3)); // seals both think blocks
  assertEquals(shape(seq), ["think:int4:4", "think:int4:4", "answer:f16:3"]);
  assertEquals(seq.truncate(10), 10);
  assertEquals(shape(seq), ["think:int4:4", "think:int4:4", "answer:f16:2"]);
  assertEquals(seq.truncate(6), 4);
  assertEquals(shape(seq), ["think:int4:4"]);
  assertEquals(seq.numTokens, 4);
  assertEquals(seq.truncate(9), 4);
  assertThrows(() => seq.truncate(-1), RangeError);
  seq.free();
  seq.free();
  assertEquals(seq.blocks.length, 0);
  assertEquals(arena.bytesFree(), arena.budgetBytes);
});

Deno.test("SequenceKv.truncate() into a closed f16 block reopens it", () => {
  const { seq } = setup(8);
  seq.append(rep("prompt", 3));
  seq.append(["think"]);
  seq.append(["think"]); // closes the prompt block (f16 phase)
  assertEquals(seq.truncate(2), 2);
  seq.append(["prompt"]);
  assertEquals(shape(seq), ["prompt:f16:3"]);
});

Deno.test("SequenceKv.usage() reports tokens, blocks and bytes per phase", () => {
  const { seq } = setup(8);
  seq.append(rep("prompt", 4));
  seq.append(rep("think", 5));
  seq.append(rep("answer", 1));
  const u = seq.usage();
  assertEquals(u.prompt, { tokens: 4, blocks: 1, bytes: F16 * 2, dtypes: { f16: 1 } });
  assertEquals(u.think.tokens, 5);
  // the partial think block was sealed when the answer began
  assertEquals(u.think.dtypes, { int4: 2 });
  assertEquals(u.answer.blocks, 1);
});

Deno.test("SequenceKv never leaks under random appends, truncations and frees", () => {
  const dtypes = ["f16", "fp8", "int8", "int4", "int3", "int2"];
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const arena = new KvArena({
    budgetBytes: 24 * F16 * 2,
    numLayers: 2,
    blockBytes,
    slabBytes: 2 * F16,
  });
  const phases: Phase[] = ["prompt", "think", "answer"];
  const seqs: SequenceKv[] = [];
  let failures = 0;
  for (let i = 0; i < 3000; i++) {
    const r = rand();
    if (r < 0.1 || seqs.length === 0) {
      const policy = { prompt: pick(dtypes), think: pick(dtypes), answer: pick(dtypes) };
      seqs.push(new SequenceKv(arena, { blockSize: 4, dtypeFor: (p) => policy[p] }));
    } else if (r < 0.8) {
      const seq = pick(seqs);
      const n = 1 + Math.floor(rand() * 6);
      const phase = pick(phases);
      const before = {
        tokens: seq.numTokens,
        table: JSON.stringify(seq.blocks),
        used: arena.bytesUsed(),
      };
      const seals = seq.append(Array(n).fill(phase));
      if (seals === null) {
        // a failed append is rolled back, even after seals freed their sources
        assertEquals(JSON.stringify(seq.blocks), before.table);
        assertEquals(arena.bytesUsed(), before.used);
        failures++;
      }
      assertEquals(seq.numTokens, seals === null ? before.tokens : before.tokens + n);
      for (const s of seals ?? []) assert(s.dst !== s.src);
    } else if (r < 0.9) {
      const seq = pick(seqs);
      const kept = seq.truncate(Math.floor(rand() * (seq.numTokens + 1)));
      assertEquals(seq.numTokens, kept);
    } else {
      const seq = seqs.splice(Math.floor(rand() * seqs.length), 1)[0];
      seq.free();
    }
    const held = seqs.flatMap((s) => s.blocks).reduce((t, b) => t + blockBytes(b.dtype) * 2, 0);
    assertEquals(arena.bytesUsed(), held);
    for (const s of seqs) {
      assertEquals(s.blocks.reduce((t, b) => t + b.tokens, 0), s.numTokens);
      assert(s.blocks.every((b) => b.tokens > 0 && b.tokens <= 4));
    }
  }
  assert(failures > 50, `only ${failures} appends ran out of room`);
  for (const s of seqs) s.free();
  assertEquals(arena.bytesFree(), arena.budgetBytes);
});
