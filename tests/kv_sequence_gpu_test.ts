import { assertEquals } from "@std/assert";
import { KvArena } from "../src/kv/arena.ts";
import { SequenceKv } from "../src/kv/block_table.ts";
import { kvDtype } from "../src/kv/dtype.ts";
import { KvSealer } from "../src/kv/sealer.ts";
import type { Phase } from "../src/kv/types.ts";
import {
  decodeBlock,
  elementParams,
  f16Bits,
  f16Value,
  packF16Block,
} from "./reference/kv_codec.ts";
import { gaussian } from "./reference/kv_data.ts";
import { readBack } from "./helpers/gpu_harness.ts";

/** Every u32 of a buffer. */
const readWords = async (device: GPUDevice, buffer: GPUBuffer) =>
  new Uint32Array(await readBack({ device }, buffer));

const adapter = await navigator.gpu?.requestAdapter();
/** Skipped where WebGPU has no adapter. */
const ignore = !adapter;

const LAYOUT = { numKvHeads: 2, blockSize: 8, headDim: 32 };
const ROW = LAYOUT.numKvHeads * LAYOUT.headDim;

Deno.test({
  name: "SequenceKv seals run by KvSealer keep every token's K and V (lazy seals, phase changes)",
  ignore,
}, async () => {
  const device = await adapter!.requestDevice();
  try {
    const policy: Record<Phase, string> = { prompt: "f16", think: "int3", answer: "fp8" };
    const blockBytes = (d: string) => kvDtype(d).blockBytes(LAYOUT);
    const arena = new KvArena({
      budgetBytes: 2 * 8 * blockBytes("f16"),
      numLayers: 2,
      blockBytes,
      slabBytes: blockBytes("f16"),
    });
    const pools = [0, 1].map(() =>
      device.createBuffer({
        size: arena.poolBytes,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      })
    );
    const sealer = await KvSealer.create(device, LAYOUT);
    const seq = new SequenceKv(arena, { blockSize: LAYOUT.blockSize, dtypeFor: (p) => policy[p] });
    const g = gaussian(3);
    // per token: [K row, V row] of f16 values, for each layer
    const tokens: { k: Float32Array; v: Float32Array }[][] = [];
    const steps: Phase[][] = [
      Array(11).fill("prompt"), // prefill chunk
      ["think"],
      ["think"],
      Array(9).fill("think"),
      ["think"],
      ["think"],
      ["answer"],
      ["answer"],
      Array(8).fill("answer"),
      ["answer"],
    ];
    for (const phases of steps) {
      const seals = seq.append(phases)!;
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      sealer.encode(pass, pools, seals);
      pass.end();
      device.queue.submit([enc.finish()]);
      // this step's KV writes, after its seals: the new tokens' rows in their open blocks
      let pos = seq.numTokens - phases.length;
      for (const _ of phases) {
        const layers = pools.map(() => {
          const f16 = () => Float32Array.from({ length: ROW }, () => f16Value(f16Bits(g())));
          return { k: f16(), v: f16() };
        });
        tokens.push(layers);
        const { block, t } = locate(seq, pos++);
        layers.forEach((kv, layer) => writeToken(device, pools[layer], block.offset, t, kv));
      }
    }
    const shapes = seq.blocks.map((b) => `${b.phase}:${b.dtype}:${b.tokens}`);
    assertEquals(shapes, [
      "prompt:f16:8",
      "prompt:f16:3",
      "think:int3:8",
      "think:int3:5", // partial: sealed at the phase change
      "answer:fp8:8",
      "answer:f16:3",
    ]);
    for (let layer = 0; layer < 2; layer++) {
      const pool = await readWords(device, pools[layer]);
      let pos = 0;
      for (const block of seq.blocks) {
        const dtype = kvDtype(block.dtype);
        const words = pool.subarray(
          block.offset / 4,
          (block.offset + dtype.blockBytes(LAYOUT)) / 4,
        );
        const got = decodeBlock(dtype, LAYOUT, words);
        for (let t = 0; t < block.tokens; t++, pos++) {
          for (let h = 0; h < LAYOUT.numKvHeads; h++) {
            for (let d = 0; d < LAYOUT.headDim; d++) {
              const i = (h * LAYOUT.blockSize + t) * LAYOUT.headDim + d;
              const want = tokens[pos][layer];
              for (const isK of [true, false]) {
                const x = (isK ? want.k : want.v)[h * LAYOUT.headDim + d];
                const y = (isK ? got.k : got.v)[i];
                // f16 exact; int within half its group's step; e4m3 within half a spacing
                const tol = dtype.kind === "f16"
                  ? 0
                  : dtype.kind === "int" || dtype.kind === "vec"
                  ? elementParams(dtype, LAYOUT, words, isK, h, t, d).scale / 2 + 1e-6
                  : Math.abs(x) * 2 ** -4 + 1e-3;
                if (!(Math.abs(x - y) <= tol)) {
                  throw new Error(
                    `layer ${layer} token ${pos} ${block.dtype}: ${x} read back as ${y}`,
                  );
                }
              }
            }
          }
        }
      }
      assertEquals(pos, seq.numTokens);
    }
    seq.free();
    assertEquals(arena.bytesFree(), arena.budgetBytes);
    sealer.destroy();
  } finally {
    device.destroy();
  }
});

function locate(seq: SequenceKv, pos: number) {
  for (const block of seq.blocks) {
    if (pos < block.tokens) return { block, t: pos };
    pos -= block.tokens;
  }
  throw new RangeError(`Token ${pos} is past the table`);
}

/** Writes one token's K and V rows (all heads) into the f16 block at `offset`. */
function writeToken(
  device: GPUDevice,
  pool: GPUBuffer,
  offset: number,
  t: number,
  kv: { k: Float32Array; v: Float32Array },
) {
  const { numKvHeads: hh, blockSize: b, headDim: dd } = LAYOUT;
  for (let h = 0; h < hh; h++) {
    const row = { k: kv.k.subarray(h * dd, (h + 1) * dd), v: kv.v.subarray(h * dd, (h + 1) * dd) };
    const words = packF16Block(row, { numKvHeads: 1, blockSize: 1, headDim: dd });
    const at = offset + (h * b + t) * dd * 2;
    device.queue.writeBuffer(pool, at, words, 0, dd / 2);
    device.queue.writeBuffer(pool, at + hh * b * dd * 2, words, dd / 2, dd / 2);
  }
}
