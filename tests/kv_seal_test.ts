import { assert, assertEquals } from "@std/assert";
import { KvSealer } from "../src/kv/sealer.ts";
import { KV_DTYPES, type KvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import type { KvSealOp } from "../src/kv/block_table.ts";
import { decodeBlock, encodeBlock, packF16Block } from "./reference/kv_codec.ts";
import { randomBlock } from "./reference/kv_data.ts";
import { readBack } from "./helpers/gpu_harness.ts";

/** Every u32 of a buffer. */
const readWords = async (device: GPUDevice, buffer: GPUBuffer) =>
  new Uint32Array(await readBack({ device }, buffer));

const adapter = await navigator.gpu?.requestAdapter();
/** GPU tests are skipped where WebGPU has no adapter. */
const ignore = !adapter;
const QUANTIZED = KV_DTYPES.filter((d) => d.kind !== "f16");
const LAYOUTS: KvLayout[] = [
  { numKvHeads: 2, blockSize: 16, headDim: 64 },
  { numKvHeads: 2, blockSize: 32, headDim: 64 },
  { numKvHeads: 1, blockSize: 16, headDim: 80 }, // a partial value group
  { numKvHeads: 1, blockSize: 16, headDim: 128 }, // the KV head of R1 distills and Qwen3
  { numKvHeads: 2, blockSize: 8, headDim: 32 }, // the default model as its profile serves it
  { numKvHeads: 2, blockSize: 4, headDim: 32 },
];

function storage(device: GPUDevice, words: Uint32Array<ArrayBuffer>): GPUBuffer {
  const buffer = device.createBuffer({
    size: words.byteLength,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  device.queue.writeBuffer(buffer, 0, words);
  return buffer;
}

/** The words of a block that carry data (the 16-byte pad is never written). */
function dataWords(dtype: KvDtype, layout: KvLayout, words: Uint32Array): number[] {
  return Array.from(words.subarray(0, dtype.sections(layout).dataWords));
}

Deno.test(
  { name: "KvSealer seals f16 blocks into exactly the oracle's words", ignore },
  async () => {
    const device = await adapter!.requestDevice();
    try {
      for (const layout of LAYOUTS) {
        const sealer = await KvSealer.create(device, layout);
        const f16Bytes = KV_DTYPES[0].blockBytes(layout);
        // pool: one f16 source per dtype (full, then partial with stale NaN slots), then destinations
        const cases = QUANTIZED.flatMap((dtype) => [
          { dtype, tokens: layout.blockSize },
          { dtype, tokens: Math.min(5, layout.blockSize - 1) },
        ]);
        const values = cases.map((_, i) => randomBlock(layout, 100 + i));
        const srcWords = values.map((v, i) => {
          const w = packF16Block(v, layout);
          if (cases[i].tokens < layout.blockSize) {
            // stale slots: NaN halves in K, large values in V
            for (let h = 0; h < layout.numKvHeads; h++) {
              const row = (h * layout.blockSize + cases[i].tokens) * layout.headDim / 2;
              const end = (h + 1) * layout.blockSize * layout.headDim / 2;
              w.fill(0x7e007e00, row, end);
              w.fill(0x7bff7bff, w.length / 2 + row, w.length / 2 + end);
            }
          }
          return w;
        });
        const dstBase = cases.length * f16Bytes;
        const dstBytes = cases.map((c) => c.dtype.blockBytes(layout));
        const dstOffsets = dstBytes.map((_, i) =>
          dstBase + dstBytes.slice(0, i).reduce((a, b) => a + b, 0)
        );
        const pool = new Uint32Array((dstBase + dstBytes.reduce((a, b) => a + b, 0)) / 4).fill(
          0xdeadbeef,
        );
        srcWords.forEach((w, i) => pool.set(w, (i * f16Bytes) / 4));
        const buffers = [storage(device, pool), storage(device, pool)]; // two layers
        const seals: KvSealOp[] = cases.map((c, i) => ({
          src: i * f16Bytes,
          dst: dstOffsets[i],
          dtype: c.dtype.name,
          tokens: c.tokens,
        }));
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        sealer.encode(pass, buffers, seals);
        pass.end();
        device.queue.submit([enc.finish()]);
        for (const buffer of buffers) {
          const out = await readWords(device, buffer);
          cases.forEach((c, i) => {
            const expected = encodeBlock(c.dtype, layout, values[i], c.tokens);
            const got = out.subarray(dstOffsets[i] / 4, dstOffsets[i] / 4 + expected.length);
            const label = `${c.dtype.name} ${JSON.stringify(layout)} tokens ${c.tokens}`;
            // codes and scales are computed with the same f32 operations in the same order; f32
            // division is exact on lavapipe (WGSL allows 2.5 ulp elsewhere, which could move a code
            // that sits on a rounding boundary by one)
            assertEquals(
              dataWords(c.dtype, layout, got),
              dataWords(c.dtype, layout, expected),
              label,
            );
          });
          buffer.destroy();
        }
        sealer.destroy();
      }
    } finally {
      device.destroy();
    }
  },
);

Deno.test({
  name: "KvSealer runs seals in order: a seal may overwrite an earlier seal's source",
  ignore,
}, async () => {
  const device = await adapter!.requestDevice();
  try {
    const layout = LAYOUTS[0];
    const sealer = await KvSealer.create(device, layout);
    const f16Bytes = KV_DTYPES[0].blockBytes(layout);
    const a = randomBlock(layout, 1), b = randomBlock(layout, 2);
    const int4 = KV_DTYPES.find((d) => d.name === "int4")!;
    const int8 = KV_DTYPES.find((d) => d.name === "int8")!;
    const pool = new Uint32Array((3 * f16Bytes) / 4);
    pool.set(packF16Block(a, layout), 0);
    pool.set(packF16Block(b, layout), f16Bytes / 4);
    const buffer = storage(device, pool);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    // a -> int4 at block 2, then b -> int8 written over a
    sealer.encode(pass, [buffer], [
      { src: 0, dst: 2 * f16Bytes, dtype: "int4" },
      { src: f16Bytes, dst: 0, dtype: "int8" },
    ]);
    pass.end();
    device.queue.submit([enc.finish()]);
    const out = await readWords(device, buffer);
    const gotA = out.subarray((2 * f16Bytes) / 4, (2 * f16Bytes + int4.blockBytes(layout)) / 4);
    const gotB = out.subarray(0, int8.blockBytes(layout) / 4);
    assertEquals(
      dataWords(int4, layout, gotA),
      dataWords(int4, layout, encodeBlock(int4, layout, a)),
    );
    assertEquals(
      dataWords(int8, layout, gotB),
      dataWords(int8, layout, encodeBlock(int8, layout, b)),
    );
    sealer.destroy();
  } finally {
    device.destroy();
  }
});

const DECODE_TEST_KERNEL = /* wgsl */ `
override NUM_KV_HEADS: u32;
override BLOCK_SIZE: u32;
override HEAD_DIM: u32;
@group(0) @binding(0) var<storage, read> kv_pool: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> block: vec4<u32>; // word offset, dtype id

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = NUM_KV_HEADS * BLOCK_SIZE * HEAD_DIM;
  if (gid.x >= 2u * n) {
    return;
  }
  let e = gid.x % n;
  let d = e % HEAD_DIM;
  let t = (e / HEAD_DIM) % BLOCK_SIZE;
  let h = e / (HEAD_DIM * BLOCK_SIZE);
  if (gid.x < n) {
    out[gid.x] = kv_k_quant(block.x, block.y, h, t, d);
  } else {
    out[gid.x] = kv_v_quant(block.x, block.y, h, t, d);
  }
}
`;

Deno.test({ name: "kv_decode.wgsl decodes every dtype as the oracle does", ignore }, async () => {
  const device = await adapter!.requestDevice();
  const decodeSrc = await Deno.readTextFile(new URL("../kernels/kv_decode.wgsl", import.meta.url));
  const module = device.createShaderModule({ code: decodeSrc + DECODE_TEST_KERNEL });
  try {
    for (const layout of LAYOUTS) {
      const pipeline = await device.createComputePipelineAsync({
        layout: "auto",
        compute: {
          module,
          entryPoint: "main",
          constants: {
            NUM_KV_HEADS: layout.numKvHeads,
            BLOCK_SIZE: layout.blockSize,
            HEAD_DIM: layout.headDim,
          },
        },
      });
      const n = layout.numKvHeads * layout.blockSize * layout.headDim;
      for (const dtype of QUANTIZED) {
        const words = encodeBlock(dtype, layout, randomBlock(layout, 7 + dtype.id));
        // the block sits after 16 bytes of other data, so offsets are exercised
        const pool = new Uint32Array(4 + words.length);
        pool.set(words, 4);
        const out = device.createBuffer({
          size: 8 * n,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
        });
        const uniform = device.createBuffer({
          size: 16,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        device.queue.writeBuffer(uniform, 0, new Uint32Array([4, dtype.id, 0, 0]));
        const poolBuffer = storage(device, pool);
        const bind = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [poolBuffer, out, uniform].map((buffer, binding) => ({
            binding,
            resource: { buffer },
          })),
        });
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(Math.ceil((2 * n) / 64));
        pass.end();
        device.queue.submit([enc.finish()]);
        const got = new Float32Array((await readWords(device, out)).buffer);
        const want = decodeBlock(dtype, layout, words);
        let worst = 0;
        for (let i = 0; i < 2 * n; i++) {
          const w = i < n ? want.k[i] : want.v[i - n];
          // q·scale + min may be fused on the GPU: one rounding fewer, at most an ulp apart
          worst = Math.max(worst, Math.abs(got[i] - w) / Math.max(Math.abs(w), 2 ** -14));
        }
        assert(
          worst <= 2 ** -23,
          `${dtype.name} ${JSON.stringify(layout)}: relative error ${worst}`,
        );
        for (const b of [out, uniform, poolBuffer]) b.destroy();
      }
    }
  } finally {
    device.destroy();
  }
});
