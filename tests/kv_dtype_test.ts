import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  bitsPerElement,
  KV_DTYPES,
  KV_FAMILY_CODES,
  KV_FAMILY_VEC_NARROW_V,
  kvDtype,
  kvDtypeById,
  UnknownKvDtypeError,
} from "../src/kv/dtype.ts";
import { kvSections } from "../src/kv/layout.ts";

const LAYOUT = { numKvHeads: 2, blockSize: 16, headDim: 128 };

Deno.test("kvDtype() resolves names and aliases case-insensitively", () => {
  assertEquals(kvDtype("FP16").name, "f16");
  assertEquals(kvDtype("float16").name, "f16");
  assertEquals(kvDtype("fp8_e4m3").name, "fp8");
  assertEquals(kvDtype(" int3 ").name, "int3");
  assertEquals(kvDtype("rot4").name, "int4");
  assertEquals(kvDtype("KIVI8").name, "int8");
  // a dtype's id is its family code · 16 + its K bits; ids are unique
  for (const d of KV_DTYPES.filter((d) => d.kind !== "f16")) {
    const family = d.vBits === d.bits
      ? KV_FAMILY_CODES[d.kind as keyof typeof KV_FAMILY_CODES]
      : KV_FAMILY_VEC_NARROW_V;
    assertEquals(d.id, family * 16 + d.bits);
    assertEquals(kvDtypeById(d.id), d);
  }
  assertEquals(kvDtypeById(0).name, "f16");
  assertEquals(new Set(KV_DTYPES.map((d) => d.id)).size, KV_DTYPES.length);
  assertThrows(() => kvDtypeById(255), RangeError);
});

Deno.test("the 4-, 3- and 2-bit dtypes pay at most 0.5 bit of scales at head_dim >= 64", () => {
  for (const headDim of [64, 128, 256]) {
    for (const numKvHeads of [1, 2, 8]) {
      const layout = { numKvHeads, blockSize: 16, headDim };
      for (const name of ["int4", "int3", "int2"]) {
        const d = kvDtype(name);
        const over = bitsPerElement(d, layout) - d.bits;
        assert(over <= 0.5 + 1e-12, `${name} at ${JSON.stringify(layout)}: ${over} bits over`);
      }
    }
  }
  // one (scale, min) pair of f16 per head vector: 32 / head_dim bits
  assertAlmostEquals(bitsPerElement("int4", LAYOUT), 4.25, 1e-12);
  assertAlmostEquals(bitsPerElement("int3", LAYOUT), 3.25, 1e-12);
  assertAlmostEquals(bitsPerElement("int2", { ...LAYOUT, headDim: 64 }), 2.5, 1e-12);
});

Deno.test("k4v3 and k3v2 store V one bit narrower than K, and count it in every byte", () => {
  const k4v3 = kvDtype("K4V3"), k3v2 = kvDtype("k3v2");
  assertEquals([k4v3.kind, k4v3.bits, k4v3.vBits, k4v3.meanBits], ["vec", 4, 3, 3.5]);
  assertEquals([k3v2.kind, k3v2.bits, k3v2.vBits, k3v2.meanBits], ["vec", 3, 2, 2.5]);
  assertEquals([k4v3.id, k3v2.id], [
    KV_FAMILY_VEC_NARROW_V * 16 + 4,
    KV_FAMILY_VEC_NARROW_V * 16 + 3,
  ]);
  // one (scale, min) word per head vector for K and for V: 32 / head_dim bits on top of the codes
  assertAlmostEquals(bitsPerElement(k4v3, LAYOUT), 3.75, 1e-12);
  assertAlmostEquals(bitsPerElement(k3v2, LAYOUT), 2.75, 1e-12);
  const d32 = { numKvHeads: 2, blockSize: 16, headDim: 32 };
  assertAlmostEquals(bitsPerElement(k4v3, d32), 4.5, 1e-12);
  assertAlmostEquals(bitsPerElement(k4v3, d32) / 16, 0.28125, 1e-12);
  // the V codes start after the K codes and are narrower: K 4 bits, V 3 bits of H·B·D elements
  const sec = k4v3.sections(d32);
  const elems = 2 * 16 * 32;
  assertEquals([sec.vCodes, sec.kParams], [elems * 4 / 32, elems * 4 / 32 + elems * 3 / 32]);
  assertEquals(sec.vParams - sec.kParams, 2 * 16);
  assertEquals(k4v3.blockBytes(d32), sec.words * 4);
  // narrower than int4, wider than int3: what demotion and after-answer choices compare
  assert(kvDtype("int4").meanBits > k4v3.meanBits && k4v3.meanBits > kvDtype("int3").meanBits);
  assertThrows(() => kvSections("int", 4, d32, 3), RangeError);
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
  // KIVI: codes + K (scale, min) per (head, channel) + V (scale, min) per (head, token, 32 channels)
  const params = 4 * (2 * 128) + 4 * (2 * 16 * 4);
  assertEquals(bytes("int8"), 2 * elems + params);
  assertEquals(bytes("kivi4"), elems + params); // 4096 + 1536 = 5632
  assertEquals(bytes("kivi4"), 5632);
  assertEquals(bytes("kivi3"), (2 * elems * 3) / 8 + params);
  assertEquals(bytes("kivi2"), elems / 2 + params);
  assertAlmostEquals(bitsPerElement("kivi4", LAYOUT), 5.5, 1e-12);
  assertAlmostEquals(bitsPerElement("kivi4", { ...LAYOUT, blockSize: 32 }), 5, 1e-12);
  // vec: codes + one (scale, min) per (head, token) for K and for V
  const vecParams = 2 * 4 * (2 * 16);
  assertEquals(bytes("int4"), elems + vecParams);
  assertEquals(bytes("int3"), (2 * elems * 3) / 8 + vecParams);
  assertEquals(bytes("rot8"), 2 * elems + vecParams);
});

Deno.test("KvDtype.blockBytes() pads odd sizes to 16 bytes", () => {
  const layout = { numKvHeads: 1, blockSize: 3, headDim: 10 };
  for (const d of KV_DTYPES) {
    const bytes = d.blockBytes(layout);
    assertEquals(bytes % 16, 0, d.name);
  }
  // kivi3: 30 codes of 3 bits = 90 bits -> 3 words per K and V; 10 + 3 params -> 19 words -> 80 B
  assertEquals(kvDtype("kivi3").blockBytes(layout), 80);
  // int3 (vec): 3 + 3 code words, 3 + 3 params -> 12 words -> 48 B
  assertEquals(kvDtype("int3").blockBytes(layout), 48);
});

Deno.test("kernels/kv_decode.wgsl and kv_seal.wgsl have a branch for every codec family", async () => {
  const read = (f: string) => Deno.readTextFile(new URL(`../kernels/${f}`, import.meta.url));
  const [decode, seal] = await Promise.all([read("kv_decode.wgsl"), read("kv_seal.wgsl")]);
  for (const [kind, code] of Object.entries(KV_FAMILY_CODES)) {
    const fam = kind.toUpperCase();
    assertStringIncludes(decode, `const KV_FAMILY_${fam}: u32 = ${code}u;`);
    for (const part of ["k", "v"]) {
      assertStringIncludes(decode, `fn kv_${kind}_${part}(`);
      const call = new RegExp(`case KV_FAMILY_${fam}: \\{ return kv_${kind}_${part}\\(`);
      assertEquals(call.test(decode), true, `${kind} ${part} branch`);
    }
    if (kind !== "int") assertStringIncludes(seal, `const KIND_${fam}: u32 = ${code}u;`);
  }
  // the narrow-V vec code decodes with V one bit narrower than K
  assertStringIncludes(decode, `const KV_FAMILY_VEC_NARROW_V: u32 = ${KV_FAMILY_VEC_NARROW_V}u;`);
  for (const part of ["k", "v"]) {
    assertStringIncludes(
      decode,
      `case KV_FAMILY_VEC_NARROW_V: { return kv_vec_${part}(word_off, bits, bits - 1u, kvh, t, d); }`,
    );
  }
  for (const d of KV_DTYPES.filter((d) => d.kind !== "f16")) {
    assertEquals([d.wgsl.k, d.wgsl.v], [`kv_${d.kind}_k`, `kv_${d.kind}_v`]);
  }
});
