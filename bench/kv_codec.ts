/**
 * Distortion of each KV codec, with and without a Hadamard rotation of K and V: attention KL and
 * attention-output relative error against an f16 cache, on synthetic keys with outlier channels
 * ("outliers", the structure real keys have) and on i.i.d. Gaussian K and V ("gaussian"). Prints
 * a markdown table; `--json <path>` also writes the rows.
 *
 *   deno run -A bench/kv_codec.ts [--tokens 512] [--json out.json]
 * @module
 */
import { parseArgs } from "node:util";
import { bitsPerElement, KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import { attend, klDivergence, relativeError } from "../tests/reference/kv_attention.ts";
import { decodeBlock, encodeBlock, f16Bits, f16Value } from "../tests/reference/kv_codec.ts";
import { gaussian, syntheticKv } from "../tests/reference/kv_data.ts";
import { hadamardRows } from "../tests/reference/hadamard.ts";

const { values: args } = parseArgs({
  options: { tokens: { type: "string", default: "512" }, json: { type: "string" } },
});
const NUM_TOKENS = Number(args.tokens);
const NUM_KV_HEADS = 2, HEAD_DIM = 128, QUERIES_PER_HEAD = 4;

/** Per-head [T][headDim] K and V of a dataset, rounded to f16 (what the open block holds). */
interface Dataset {
  name: string;
  k: Float32Array[];
  v: Float32Array[];
  q: Float32Array[][];
}

function dataset(name: string, seed: number): Dataset {
  const g = gaussian(seed + 1);
  const flat = name === "outliers" ? syntheticKv(NUM_TOKENS, NUM_KV_HEADS, HEAD_DIM, seed) : {
    k: Float32Array.from({ length: NUM_TOKENS * NUM_KV_HEADS * HEAD_DIM }, g),
    v: Float32Array.from({ length: NUM_TOKENS * NUM_KV_HEADS * HEAD_DIM }, g),
  };
  const perHead = (x: Float32Array) =>
    Array.from({ length: NUM_KV_HEADS }, (_, h) => {
      const out = new Float32Array(NUM_TOKENS * HEAD_DIM);
      for (let t = 0; t < NUM_TOKENS; t++) {
        for (let d = 0; d < HEAD_DIM; d++) {
          out[t * HEAD_DIM + d] = f16Value(f16Bits(x[(t * NUM_KV_HEADS + h) * HEAD_DIM + d]));
        }
      }
      return out;
    });
  const q = Array.from(
    { length: NUM_KV_HEADS },
    () =>
      Array.from({ length: QUERIES_PER_HEAD }, () => Float32Array.from({ length: HEAD_DIM }, g)),
  );
  return { name, k: perHead(flat.k), v: perHead(flat.v), q };
}

/** Each head's K and V after a round trip through `dtype`, block by block. */
function roundTrip(dtype: KvDtype, layout: KvLayout, k: Float32Array[], v: Float32Array[]) {
  const b = layout.blockSize, n = b * HEAD_DIM;
  const outK = k.map((x) => x.slice()), outV = v.map((x) => x.slice());
  for (let t0 = 0; t0 < NUM_TOKENS; t0 += b) {
    const block = { k: new Float32Array(NUM_KV_HEADS * n), v: new Float32Array(NUM_KV_HEADS * n) };
    for (let h = 0; h < NUM_KV_HEADS; h++) {
      block.k.set(k[h].subarray(t0 * HEAD_DIM, t0 * HEAD_DIM + n), h * n);
      block.v.set(v[h].subarray(t0 * HEAD_DIM, t0 * HEAD_DIM + n), h * n);
    }
    const back = decodeBlock(dtype, layout, encodeBlock(dtype, layout, block));
    for (let h = 0; h < NUM_KV_HEADS; h++) {
      outK[h].set(back.k.subarray(h * n, (h + 1) * n), t0 * HEAD_DIM);
      outV[h].set(back.v.subarray(h * n, (h + 1) * n), t0 * HEAD_DIM);
    }
  }
  return { k: outK, v: outV };
}

/** One table row. */
interface Row {
  data: string;
  dtype: string;
  blockSize: number;
  rotate: boolean;
  bitsPerElement: number;
  kl: number;
  outRelErr: number;
}

function measure(ds: Dataset, dtype: KvDtype, blockSize: number, rotate: boolean): Row {
  const layout = { numKvHeads: NUM_KV_HEADS, blockSize, headDim: HEAD_DIM };
  const rot = (x: Float32Array) => (rotate ? hadamardRows(x, HEAD_DIM) : x);
  const q = roundTrip(dtype, layout, ds.k.map(rot), ds.v.map(rot));
  let kl = 0, err = 0, count = 0;
  for (let h = 0; h < NUM_KV_HEADS; h++) {
    for (const query of ds.q[h]) {
      const ref = attend(query, ds.k[h], ds.v[h], HEAD_DIM);
      // rotated: q is rotated like the keys, and the output is rotated back (H is an involution)
      const got = attend(rot(query), q.k[h], q.v[h], HEAD_DIM);
      const out = rotate
        ? Float64Array.from(hadamardRows(Float32Array.from(got.out), HEAD_DIM))
        : got.out;
      kl += klDivergence(ref.probs, got.probs);
      err += relativeError(ref.out, out);
      count++;
    }
  }
  return {
    data: ds.name,
    dtype: dtype.name,
    blockSize,
    rotate,
    bitsPerElement: bitsPerElement(dtype, layout),
    kl: kl / count,
    outRelErr: err / count,
  };
}

const rows: Row[] = [];
for (const ds of [dataset("outliers", 1), dataset("gaussian", 2)]) {
  for (const blockSize of [16, 32]) {
    for (const dtype of KV_DTYPES.filter((d) => d.kind !== "f16")) {
      for (const rotate of [false, true]) rows.push(measure(ds, dtype, blockSize, rotate));
    }
  }
}

const fmt = (x: number) => x.toExponential(2);
console.log(
  `KV codec distortion: ${NUM_TOKENS} tokens, ${NUM_KV_HEADS} kv heads, head_dim ${HEAD_DIM}, ${QUERIES_PER_HEAD} queries per head\n`,
);
console.log(
  "| data | dtype | block | bits/elem | KL | KL rotated | out rel err | out rel err rotated |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (let i = 0; i < rows.length; i += 2) {
  const [plain, rot] = [rows[i], rows[i + 1]];
  console.log(
    `| ${plain.data} | ${plain.dtype} | ${plain.blockSize} | ${plain.bitsPerElement.toFixed(3)} | ${
      fmt(plain.kl)
    } | ${fmt(rot.kl)} | ${fmt(plain.outRelErr)} | ${fmt(rot.outRelErr)} |`,
  );
}
if (args.json) await Deno.writeTextFile(args.json, JSON.stringify(rows, null, 2));
