import { assertAlmostEquals, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  bitsPerElement,
  KV_DTYPES,
  kvDtype,
  kvDtypeById,
  UnknownKvDtypeError,
} from "../src/kv/dtype.ts";

const LAYOUT = { numKvHeads: 2, blockSize: 16, headDim: 128 };

Deno.test("kvDtype() resolves names and aliases case-insensitively", () => {
  assertEquals(kvDtype("FP16").name, "f16");
  assertEquals(kvDtype("float16").name, "f16");
  assertEquals(kvDtype("fp8_e4m3").name, "fp8");
  assertEquals(kvDtype(" int3 ").name, "int3");
  assertEquals(KV_DTYPES.map((d) => d.id), [0, 1, 2, 3, 4, 5]);
  assertEquals(kvDtypeById(3).name, "int4");
});

Deno.test("kvDtype() throws UnknownKvDtypeError listing every valid name", () => {
  const e = assertThrows(() => kvDtype("bfloat16"), UnknownKvDtypeError);
  for (const d of KV_DTYPES) {
    assertStringIncludes(e.message, d.name);
    for (const a of d.aliases) assertStringIncludes(e.message, a);
  }
  assertStringIncludes(e.message, "auto");
  assertThrows(() => kvDtype("auto"), UnknownKvDtypeError);
});

Deno.test("KvDtype.blockBytes() counts codes and every scale byte (2 heads, 16 tokens, d128)", () => {
  const elems = 2 * 16 * 128; // per K or V
  const bytes = (name: string) => kvDtype(name).blockBytes(LAYOUT);
  assertEquals(bytes("f16"), 2 * elems * 2);
  // fp8: one byte per element + one f16 scale per (head, K|V) = 8200, padded to 16
  assertEquals(bytes("fp8"), 8208);
  // int: codes + K (scale, min) per (head, channel) + V (scale, min) per (head, token, 32 channels)
  const params = 4 * (2 * 128) + 4 * (2 * 16 * 4);
  assertEquals(bytes("int8"), 2 * elems + params);
  assertEquals(bytes("int4"), elems + params); // 4096 + 1536 = 5632
  assertEquals(bytes("int4"), 5632);
  assertEquals(bytes("int3"), (2 * elems * 3) / 8 + params);
  assertEquals(bytes("int2"), elems / 2 + params);
  assertAlmostEquals(bitsPerElement("int4", LAYOUT), 5.5, 1e-12);
  assertAlmostEquals(bitsPerElement("int4", { ...LAYOUT, blockSize: 32 }), 5, 1e-12);
});

Deno.test("KvDtype.blockBytes() pads odd sizes to 16 bytes", () => {
  const layout = { numKvHeads: 1, blockSize: 3, headDim: 10 };
  for (const d of KV_DTYPES) {
    const bytes = d.blockBytes(layout);
    assertEquals(bytes % 16, 0, d.name);
  }
  // int3: 30 codes of 3 bits = 90 bits -> 3 words per K and V; 10 + 3 params -> 19 words -> 80 B
  assertEquals(kvDtype("int3").blockBytes(layout), 80);
});

Deno.test("kernels/kv_decode.wgsl has a branch for every quantized dtype", async () => {
  const src = await Deno.readTextFile(new URL("../kernels/kv_decode.wgsl", import.meta.url));
  for (const d of KV_DTYPES.filter((d) => d.kind !== "f16")) {
    for (const fn of [d.wgsl.k, d.wgsl.v]) {
      assertStringIncludes(src, `fn ${fn}(`);
      const call = new RegExp(`case ${d.id}u: \\{\\s*return ${fn}\\(`);
      assertEquals(call.test(src), true, `case ${d.id}u calls ${fn}`);
    }
  }
});
