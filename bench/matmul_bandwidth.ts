/**
 * The matmul kernel's weight bandwidth against a plain copy kernel's on this adapter: one
 * 8960 x 1536 weight (the 1.5B model's down/up shape) at batch 1, per weight dtype.
 * @module
 */
import type { Gpu } from "../src/gpu/device.ts";
import { createBuffer } from "../src/gpu/buffers.ts";
import { countSlot, createCounts, dispatchLinear, writeCount } from "../src/gpu/dispatch.ts";
import { matrixBytes, uploadF16Matrix } from "../src/gpu/row_split.ts";
import { WEIGHT_GROUP_SIZE, weightBits, type WeightsDtype } from "../src/model/weights_dtype.ts";
import { MatmulOp } from "../src/runner/ops/matmul.ts";
import { quantizeMatrix } from "../src/runner/ops/quantize_weights.ts";
import { RANDOM_F16_BLOCK } from "./random_checkpoint.ts";

/** GB/s of one kernel, and of the copy kernel measured beside it. */
export interface Bandwidth {
  dtype: WeightsDtype;
  /** Weight bytes the matmul reads (scales included) per second. */
  matmulGBs: number;
  /** Bytes the copy reads plus writes per second. */
  copyGBs: number;
  ratio: number;
  /** Seconds per matmul. */
  matmulS: number;
}

/** Seconds per run of `encode`: the best of 3 passes of `reps` runs (amortising the ~10 ms wait). */
export async function timePass(
  gpu: Gpu,
  reps: number,
  encode: (pass: GPUComputePassEncoder) => void,
): Promise<number> {
  const run = async (n: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encode(pass);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await run(1);
  // The fastest of three: other load on the machine only ever adds time.
  let best = Infinity;
  for (let t = 0; t < 3; t++) best = Math.min(best, (await run(reps)) / reps);
  return best;
}

/** Seconds per copy of `bytes` bytes with kernels/copy.wgsl. */
export async function copySeconds(gpu: Gpu, bytes: number, reps: number): Promise<number> {
  const words = bytes / 16;
  const wg = gpu.profile.elementwise;
  const copy = await gpu.kernels.pipeline(["copy"], "main", { WG: wg, N: words });
  const src = createBuffer(gpu.device, "src", bytes);
  const dst = createBuffer(gpu.device, "dst", bytes);
  const group = gpu.kernels.bindGroup(copy, [src, dst]);
  const s = await timePass(gpu, reps, (p) => {
    p.setPipeline(copy);
    p.setBindGroup(0, group);
    dispatchLinear(p, Math.ceil(words / wg));
  });
  src.destroy();
  dst.destroy();
  return s;
}

/** Matmul and copy bandwidth for each of `dtypes` (the copy moves the f16 weight's bytes). */
export async function benchBandwidth(
  gpu: Gpu,
  dtypes: readonly WeightsDtype[],
  reps = 20,
): Promise<Bandwidth[]> {
  const [n, k] = [8960, 1536];
  const f16Bytes = n * k * 2;
  const bits = new Uint16Array(n * k);
  for (let at = 0; at < bits.length; at += RANDOM_F16_BLOCK.length) {
    bits.set(RANDOM_F16_BLOCK.subarray(0, Math.min(RANDOM_F16_BLOCK.length, bits.length - at)), at);
  }
  const x = createBuffer(gpu.device, "x", k * 4);
  const y = createBuffer(gpu.device, "y", n * 4);
  const counts = createCounts(gpu.device, "count", 1);
  writeCount(gpu.device, counts, 0, 1);
  const out: Bandwidth[] = [];
  for (const dtype of dtypes) {
    console.error(`measuring matmul (${dtype}) and copy bandwidth (8960 x 1536, batch 1)`);
    let matrix = uploadF16Matrix(gpu.device, "w", bits, n, k, gpu.maxBindingBytes);
    const b = weightBits(dtype);
    if (b !== 16) matrix = await quantizeMatrix(gpu, matrix, b, WEIGHT_GROUP_SIZE);
    const op = await MatmulOp.create(gpu, matrix, { outStride: n });
    const weightBytes = matrixBytes(matrix);
    const matmulS = await timePass(
      gpu,
      reps,
      (p) => op.encode(p, { x, y, count: countSlot(counts, 0) }, 1),
    );
    // Copy measured right after, so both see the same machine load.
    const copyS = await copySeconds(gpu, f16Bytes, reps);
    for (const part of matrix.parts) {
      part.buffer.destroy();
      part.scales?.destroy();
    }
    // The copy moves its bytes twice (read and write); the matmul reads its weights once.
    const matmulGBs = weightBytes / matmulS / 1e9;
    const copyGBs = (2 * f16Bytes) / copyS / 1e9;
    out.push({ dtype, matmulGBs, copyGBs, ratio: matmulGBs / copyGBs, matmulS });
  }
  for (const buf of [x, y, counts]) buf.destroy();
  return out;
}
