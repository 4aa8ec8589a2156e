import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import { hadamardInPlace, hadamardRows } from "./reference/hadamard.ts";
import { KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import {
  decodeBlock,
  e4m3Decode,
  e4m3Encode,
  elementParams,
  encodeBlock,
  f16Bits,
  f16Value,
  type KvBlockValues,
} from "./reference/kv_codec.ts";
import { randomBlock } from "./reference/kv_data.ts";

const QUANTIZED = KV_DTYPES.filter((d) => d.kind !== "f16");

/** Largest |decoded − f16 input| allowed for one element. */
function bound(
  dtype: KvDtype,
  layout: KvLayout,
  words: Uint32Array,
  isK: boolean,
  x: number,
  h: number,
  t: number,
  d: number,
): number {
  const p = elementParams(dtype, layout, words, isK, h, t, d);
  if (["int", "vec", "sym", "zp"].includes(dtype.kind)) {
    // half a step of the element's group; the f32 arithmetic adds a few ulps of the group's range
    return p.scale / 2 + 4e-7 * (Math.abs(p.min) + p.scale * 2 ** dtype.bits);
  }
  // e4m3 has 3 mantissa bits: half a spacing is 2^-4 of |x| for normals, 2^-10·scale below 2^-6
  return Math.max(Math.abs(x) * 2 ** -4, 2 ** -10 * p.scale) * (1 + 1e-6);
}

function checkRoundTrip(dtype: KvDtype, layout: KvLayout, values: KvBlockValues, tokens: number) {
  const words = encodeBlock(dtype, layout, values, tokens);
  assertEquals(words.length * 4, dtype.blockBytes(layout));
  const out = decodeBlock(dtype, layout, words);
  let worst = 0;
  for (let h = 0; h < layout.numKvHeads; h++) {
    for (let t = 0; t < tokens; t++) {
      for (let d = 0; d < layout.headDim; d++) {
        const i = (h * layout.blockSize + t) * layout.headDim + d;
        for (
          const [isK, x, y] of [[true, values.k[i], out.k[i]], [
            false,
            values.v[i],
            out.v[i],
          ]] as const
        ) {
          const x16 = f16Value(f16Bits(x));
          const err = Math.abs(y - x16);
          const b = bound(dtype, layout, words, isK, x16, h, t, d);
          worst = Math.max(worst, err / b);
          if (!(err <= b)) {
            throw new Error(
              `${dtype.name} ${isK ? "K" : "V"}[${h},${t},${d}] = ${x16} decoded ${y}, bound ${b}`,
            );
          }
        }
      }
    }
  }
  return worst;
}

for (const blockSize of [16, 32]) {
  for (const dtype of QUANTIZED) {
    Deno.test(`${dtype.name} round trip stays within half a step (block ${blockSize})`, () => {
      const layout = { numKvHeads: 2, blockSize, headDim: 64 };
      const worst = checkRoundTrip(
        dtype,
        layout,
        randomBlock(layout, blockSize + dtype.id),
        blockSize,
      );
      // the bound is tight: some element comes close to it
      assert(worst > 0.5, `worst error is ${worst} of the bound`);
    });
  }
}

Deno.test("int codecs handle a partial last value group and a partial block with stale slots", () => {
  const layout = { numKvHeads: 1, blockSize: 16, headDim: 80 }; // V groups of 32, 32, 16
  for (const dtype of QUANTIZED) {
    const values = randomBlock(layout, 5);
    // stale memory past the valid tokens must not reach the scales
    values.k.fill(NaN, 7 * 80, 16 * 80);
    values.v.fill(60000, 7 * 80, 16 * 80);
    checkRoundTrip(dtype, layout, values, 7);
  }
});

Deno.test("sym and zp codecs decode 0 exactly and keep a vector's extremes in range", () => {
  const layout = { numKvHeads: 1, blockSize: 16, headDim: 32 };
  const n = 16 * 32;
  const k = Float32Array.from({ length: n }, (_, i) => (i % 32 === 3 ? -7 : Math.sin(i)));
  const values = { k, v: new Float32Array(n) };
  for (const dtype of QUANTIZED.filter((d) => d.kind === "sym" || d.kind === "zp")) {
    const out = decodeBlock(dtype, layout, encodeBlock(dtype, layout, values));
    // an all-zero vector has scale 0 and decodes to 0; the extreme channel sits on sym's top
    // level, and within half a step (of a range under 8) of zp's end level
    assertEquals([out.v[0] + 0, out.v[77] + 0], [0, 0], dtype.name);
    const slack = dtype.kind === "sym" ? 1e-2 : 4 / ((1 << dtype.bits) - 1) + 1e-2;
    assertLessOrEqual(Math.abs(out.k[3] + 7), slack, dtype.name);
  }
});

Deno.test("int and vec codecs give a constant group scale 0 and decode it exactly", () => {
  const layout = { numKvHeads: 1, blockSize: 16, headDim: 32 };
  const n = 16 * 32;
  const values = { k: new Float32Array(n).fill(-1.5), v: new Float32Array(n).fill(0.25) };
  for (const dtype of QUANTIZED.filter((d) => d.kind === "int" || d.kind === "vec")) {
    const out = decodeBlock(dtype, layout, encodeBlock(dtype, layout, values));
    assertEquals([out.k[5], out.v[77]], [-1.5, 0.25], dtype.name);
  }
});

Deno.test("e4m3Encode() round-trips every code and saturates at 448", () => {
  for (let code = 0; code < 256; code++) {
    if ((code & 0x7f) === 0x7f) continue; // NaN
    const x = e4m3Decode(code);
    const back = e4m3Encode(x);
    assertEquals(back === code || (x === 0 && (back & 0x7f) === 0), true, `code ${code}`);
  }
  assertEquals(e4m3Decode(0x7e), 448);
  assertEquals(e4m3Decode(0x01), 2 ** -9);
  assertEquals(e4m3Encode(1e6), 0x7e);
  assertEquals(e4m3Encode(-460), 0xfe);
  // ties go to the even mantissa: 1.0625 is halfway between 1 (m=0) and 1.125 (m=1)
  assertEquals(e4m3Decode(e4m3Encode(1.0625)), 1);
  assertEquals(e4m3Decode(e4m3Encode(1.1875)), 1.25);
  assertEquals(e4m3Decode(e4m3Encode(3 * 2 ** -10)), 2 ** -8); // subnormal tie → even
  for (let i = 0; i < 2000; i++) {
    const x = (Math.random() - 0.5) * 900;
    const y = e4m3Decode(e4m3Encode(x));
    assertLessOrEqual(
      Math.abs(y - Math.max(-448, Math.min(448, x))),
      Math.max(Math.abs(x) * 2 ** -4, 2 ** -10),
    );
  }
});

Deno.test("hadamardInPlace() is orthonormal and its own inverse", () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) + (i === 5 ? 9 : 0));
  const y = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i * 0.3));
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  const hx = hadamardRows(x, 64), hy = hadamardRows(y, 64);
  assertAlmostEquals(dot(hx, hy), dot(x, y), 1e-4);
  const back = hadamardRows(hx, 64);
  for (let i = 0; i < 64; i++) assertAlmostEquals(back[i], x[i], 1e-5);
  // an outlier channel is spread evenly over every channel
  const spike = new Float32Array(64);
  spike[5] = 8;
  assertEquals([...new Set(hadamardRows(spike, 64).map(Math.abs))], [1]);
  assertThrows(() => hadamardInPlace(x, 0, 48), RangeError);
});
