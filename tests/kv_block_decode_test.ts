import { assertEquals, assertThrows } from "@std/assert";
import { decodeKvBlock } from "../src/kv/block_decode.ts";
import { KV_DTYPES } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import { randomF32 } from "./helpers/gpu_harness.ts";
import { decodeBlock, encodeBlock } from "./reference/kv_codec.ts";

// head_dim 40 gives a value group of 32 and one of 8; 3-bit codes straddle words
const LAYOUTS: KvLayout[] = [
  { numKvHeads: 2, blockSize: 16, headDim: 40 },
  { numKvHeads: 1, blockSize: 4, headDim: 8 },
];

Deno.test("decodeKvBlock equals the oracle codec's decode for every dtype, full and partial blocks", () => {
  for (const layout of LAYOUTS) {
    const n = layout.numKvHeads * layout.blockSize * layout.headDim;
    const values = { k: randomF32(n, 1, 3), v: randomF32(n, 2, 0.5) };
    for (const dtype of KV_DTYPES) {
      for (const tokens of [layout.blockSize, layout.blockSize - 1]) {
        const words = encodeBlock(dtype, layout, values, tokens);
        const expected = decodeBlock(dtype, layout, words);
        const got = decodeKvBlock(dtype, layout, words);
        assertEquals(got.k, expected.k, `${dtype.name} K ${JSON.stringify(layout)} ${tokens}`);
        assertEquals(got.v, expected.v, `${dtype.name} V ${JSON.stringify(layout)} ${tokens}`);
      }
    }
  }
});

Deno.test("decodeKvBlock refuses a block shorter than its dtype's layout", () => {
  const int4 = KV_DTYPES.find((d) => d.name === "int4")!;
  assertThrows(() => decodeKvBlock(int4, LAYOUTS[0], new Uint32Array(8)), RangeError, "int4");
});
