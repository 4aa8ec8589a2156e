import { assertEquals, assertThrows } from "@std/assert";
import { KvSealer } from "../src/kv/sealer.ts";
import { KvDemoter } from "../src/kv/demoter.ts";
import { KV_DTYPES, type KvDtype, kvDtype } from "../src/kv/dtype.ts";
import { type KvLayout, vGroupsPerToken } from "../src/kv/layout.ts";
import type { SealOp } from "../src/runner/types.ts";
import { decodeBlock, encodeBlock, packF16Block } from "./reference/kv_codec.ts";
import { randomBlock } from "./reference/kv_data.ts";
import { readBack } from "./helpers/gpu_harness.ts";

const adapter = await navigator.gpu?.requestAdapter();
/** GPU tests are skipped where WebGPU has no adapter. */
const ignore = !adapter;
const LAYOUTS: KvLayout[] = [
  { numKvHeads: 2, blockSize: 16, headDim: 64 },
  { numKvHeads: 1, blockSize: 16, headDim: 80 }, // a partial value group
];
/** Every (source, destination) pair a demotion may take: to fewer bits, from a sealed dtype. */
const PAIRS: [KvDtype, KvDtype][] = KV_DTYPES.flatMap((from) =>
  KV_DTYPES.filter((to) => from.kind !== "f16" && to.kind !== "f16" && to.meanBits < from.meanBits)
    .map((to) => [from, to] as [KvDtype, KvDtype])
);

function dataWords(dtype: KvDtype, layout: KvLayout, words: Uint32Array): number[] {
  const sec = dtype.sections(layout);
  const end = dtype.kind === "fp8"
    ? sec.kParams + layout.numKvHeads
    : sec.vParams + layout.numKvHeads * layout.blockSize * vGroupsPerToken(layout.headDim);
  return Array.from(words.subarray(0, end));
}

Deno.test(
  { name: "KvDemoter: demoted codes equal the oracle's encode of the oracle's decode", ignore },
  async () => {
    const device = await adapter!.requestDevice();
    try {
      for (const layout of LAYOUTS) {
        const sealer = await KvSealer.create(device, layout);
        const f16Bytes = KV_DTYPES[0].blockBytes(layout);
        const slot = f16Bytes; // every block fits an f16 block's room
        const cases = PAIRS.map(([from, to], i) => ({
          from,
          to,
          tokens: i % 3 === 0 ? 7 : layout.blockSize,
          values: randomBlock(layout, 300 + i),
        }));
        // pool: sources, then an f16 block sealed in the same call, then destinations, then scratch
        const srcWords = cases.map((c) => encodeBlock(c.from, layout, c.values, c.tokens));
        const plain = randomBlock(layout, 7);
        const plainAt = cases.length * slot;
        const dstBase = plainAt + slot;
        const scratch = dstBase + (cases.length + 1) * slot;
        const pool = new Uint32Array((scratch + cases.length * f16Bytes) / 4).fill(0xdeadbeef);
        srcWords.forEach((w, i) => pool.set(w, (i * slot) / 4));
        pool.set(packF16Block(plain, layout), plainAt / 4);
        const demoter = await KvDemoter.create(device, sealer, layout, {
          offset: scratch,
          blocks: cases.length,
        });
        const ops: SealOp[] = cases.map((c, i) => ({
          src: i * slot,
          dst: dstBase + i * slot,
          dtype: c.to.name,
          tokens: c.tokens,
          srcDtype: c.from.name,
        }));
        // an ordinary seal rides in the same call, into the first demotion's freed source
        const sealDst = dstBase + cases.length * slot;
        ops.unshift({ src: plainAt, dst: sealDst, dtype: "int4" });
        const buffer = device.createBuffer({
          size: pool.byteLength,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
        });
        device.queue.writeBuffer(buffer, 0, pool);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        demoter.encode(pass, [buffer], ops);
        pass.end();
        device.queue.submit([enc.finish()]);
        const out = new Uint32Array(await readBack({ device }, buffer));
        cases.forEach((c, i) => {
          const decoded = decodeBlock(c.from, layout, srcWords[i]);
          const expected = encodeBlock(c.to, layout, decoded, c.tokens);
          const at = (dstBase + i * slot) / 4;
          const got = out.subarray(at, at + expected.length);
          const label = `${c.from.name} → ${c.to.name} ${
            JSON.stringify(layout)
          } tokens ${c.tokens}`;
          assertEquals(dataWords(c.to, layout, got), dataWords(c.to, layout, expected), label);
        });
        const int4 = kvDtype("int4");
        const sealed = encodeBlock(int4, layout, plain);
        const at = sealDst / 4;
        assertEquals(
          dataWords(int4, layout, out.subarray(at, at + sealed.length)),
          dataWords(int4, layout, sealed),
        );
        buffer.destroy();
        demoter.destroy();
        sealer.destroy();
      }
    } finally {
      device.destroy();
    }
  },
);

Deno.test(
  { name: "KvDemoter refuses more demotions than scratch blocks, and promotions", ignore },
  async () => {
    const device = await adapter!.requestDevice();
    try {
      const layout = LAYOUTS[0];
      const sealer = await KvSealer.create(device, layout);
      const demoter = await KvDemoter.create(device, sealer, layout, { offset: 0, blocks: 1 });
      const buffer = device.createBuffer({ size: 1 << 16, usage: GPUBufferUsage.STORAGE });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      const op = { src: 0, dst: 4096, dtype: "int2", srcDtype: "int4" };
      assertThrows(() => demoter.encode(pass, [buffer], [op, { ...op, dst: 8192 }]), RangeError);
      assertThrows(() => demoter.encode(pass, [buffer], [{ ...op, dtype: "int8" }]), RangeError);
      pass.end();
      enc.finish();
      buffer.destroy();
      demoter.destroy();
      sealer.destroy();
    } finally {
      device.destroy();
    }
  },
);
