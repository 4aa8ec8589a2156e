import { assert, assertEquals, assertThrows } from "@std/assert";
import { KvArena, KvArenaError } from "../src/kv/arena.ts";
import { kvDtype } from "../src/kv/dtype.ts";

const LAYOUT = { numKvHeads: 2, blockSize: 16, headDim: 64 };
const blockBytes = (dtype: string) => kvDtype(dtype).blockBytes(LAYOUT);

function arena(slabs: number, numLayers = 3): KvArena {
  // one f16 block per slab
  return new KvArena({
    budgetBytes: slabs * blockBytes("f16") * numLayers,
    numLayers,
    blockBytes,
    slabBytes: blockBytes("f16"),
  });
}

Deno.test("KvArena sizes its pools per layer and counts bytes over all layers", () => {
  const a = new KvArena({ budgetBytes: 1000, numLayers: 3, blockBytes });
  assertEquals(a.poolBytes, 320); // floor(1000 / 3) = 333, aligned down to 16
  assertEquals(a.budgetBytes, 960);
  assertEquals(a.bytesFree(), a.budgetBytes);
  assertEquals(a.bytesUsed(), 0);
});

Deno.test("KvArena.allocate() hands out 16-aligned offsets and accounts bytes by dtype", () => {
  const a = arena(4);
  const f = a.allocate("f16")!;
  const q = a.allocate("int4")!;
  assertEquals([f % 16, q % 16], [0, 0]);
  assert(f !== q);
  assertEquals(a.bytesUsedByDtype(), { f16: blockBytes("f16") * 3, int4: blockBytes("int4") * 3 });
  assertEquals(a.bytesUsed() + a.bytesFree(), a.budgetBytes);
  assertEquals(a.slabsByDtype(), { f16: 1, int4: 1 });
});

Deno.test("KvArena packs blocks of one dtype into one slab", () => {
  const a = arena(4);
  const perSlab = Math.floor(blockBytes("f16") / blockBytes("int4"));
  assert(perSlab >= 2);
  for (let i = 0; i < perSlab; i++) a.allocate("int4");
  assertEquals(a.slabsByDtype(), { int4: 1 });
  a.allocate("int4");
  assertEquals(a.slabsByDtype(), { int4: 2 });
});

Deno.test("KvArena returns an empty slab to the pool for another dtype", () => {
  const a = arena(2);
  const f1 = a.allocate("f16")!, f2 = a.allocate("f16")!;
  assertEquals(a.canAllocate("int4"), false);
  assertEquals(a.allocate("int4"), null);
  a.free(f1);
  assert(a.canAllocate("int4", 2));
  const q = a.allocate("int4")!;
  assertEquals(Math.floor(q / a.slabBytes), Math.floor(f1 / a.slabBytes));
  a.free(q);
  a.free(f2);
  assertEquals(a.bytesFree(), a.budgetBytes);
  assertEquals(a.slabsByDtype(), {});
});

Deno.test("KvArena.canAllocate() counts free slots and empty slabs", () => {
  const a = arena(2);
  const perSlab = Math.floor(a.slabBytes / blockBytes("int2"));
  assert(a.canAllocate("int2", 2 * perSlab));
  assert(!a.canAllocate("int2", 2 * perSlab + 1));
  a.allocate("f16");
  assert(a.canAllocate("int2", perSlab));
  assert(!a.canAllocate("int2", perSlab + 1));
});

Deno.test("KvArena.free() rejects unknown offsets and double frees", () => {
  const a = arena(2);
  const f = a.allocate("f16")!;
  assertThrows(() => a.free(f + 16), KvArenaError);
  a.free(f);
  assertThrows(() => a.free(f), KvArenaError, "already freed");
  assertEquals(a.bytesFree(), a.budgetBytes);
});

Deno.test("KvArena.allocateAt() takes back exactly a freed block", () => {
  const a = arena(2);
  const f = a.allocate("f16")!;
  a.free(f);
  a.allocateAt("f16", f);
  assertThrows(() => a.allocateAt("f16", f), KvArenaError);
  a.free(f);
  assertThrows(() => a.allocateAt("int4", 8), KvArenaError);
  assertEquals(a.bytesFree(), a.budgetBytes);
});

Deno.test("KvArena never leaks under random allocate/free of several dtypes", () => {
  const a = new KvArena({
    budgetBytes: 40 * blockBytes("f16"),
    numLayers: 2,
    blockBytes,
    slabBytes: 3 * blockBytes("f16"),
  });
  const dtypes = ["f16", "fp8", "int8", "int4", "int3", "int2"];
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const live = new Map<number, string>();
  for (let i = 0; i < 5000; i++) {
    if (rand() < 0.55) {
      const dtype = dtypes[Math.floor(rand() * dtypes.length)];
      const can = a.canAllocate(dtype);
      const off = a.allocate(dtype);
      assertEquals(off !== null, can);
      if (off !== null) {
        assert(!live.has(off), "offset handed out twice");
        for (const [o, d] of live) {
          assert(off + blockBytes(dtype) <= o || o + blockBytes(d) <= off, "blocks overlap");
        }
        live.set(off, dtype);
      }
    } else if (live.size > 0) {
      const offs = [...live.keys()];
      const off = offs[Math.floor(rand() * offs.length)];
      a.free(off);
      live.delete(off);
    }
    const used = [...live.values()].reduce((s, d) => s + blockBytes(d) * 2, 0);
    assertEquals(a.bytesUsed(), used);
  }
  for (const off of live.keys()) a.free(off);
  assertEquals(a.bytesFree(), a.budgetBytes);
  assertEquals(a.slabsByDtype(), {});
});
