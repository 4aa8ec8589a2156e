import { assertEquals, assertThrows } from "@std/assert";
import { KvArenaError } from "../src/kv/arena.ts";
import { FencedKvArena } from "../src/engine/fenced_arena.ts";

function arena(): FencedKvArena {
  return new FencedKvArena({ budgetBytes: 4096, numLayers: 2, blockBytes: () => 256 });
}

Deno.test("FencedKvArena.free() holds a block a submitted step may write until that step resolves", () => {
  const kv = arena();
  const a = kv.allocate("f16")!;
  kv.markSubmitted(1);
  kv.free(a);
  assertEquals(kv.bytesHeld(), 512);
  assertEquals(kv.bytesFree(), kv.budgetBytes - 512);
  kv.markSubmitted(2);
  kv.markResolved(1);
  assertEquals(kv.bytesHeld(), 0);
  assertEquals(kv.bytesFree(), kv.budgetBytes);
});

Deno.test("FencedKvArena.free() waits for every step submitted before the free", () => {
  const kv = arena();
  const a = kv.allocate("f16")!;
  kv.markSubmitted(1);
  kv.markSubmitted(2);
  kv.free(a);
  kv.markResolved(1);
  assertEquals(kv.bytesHeld(), 512);
  kv.markResolved(2);
  assertEquals(kv.bytesFree(), kv.budgetBytes);
});

Deno.test("FencedKvArena.free() returns at once a block no step has seen, and undoes a held free", () => {
  const kv = arena();
  const a = kv.allocate("f16")!;
  kv.markSubmitted(1);
  const b = kv.allocate("f16")!;
  kv.free(b); // allocated after the last submission: no step can reference it
  assertEquals(kv.bytesHeld(), 0);
  kv.free(a);
  assertThrows(() => kv.free(a), KvArenaError);
  kv.allocateAt("f16", a); // a block table rolling back a failed append
  assertEquals(kv.bytesHeld(), 0);
  kv.markResolved(1);
  assertEquals(kv.bytesUsed(), 512);
});
