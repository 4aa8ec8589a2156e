/**
 * Weight quantization at load (kernels/quantize_weights.wgsl): an f16 matrix on the GPU becomes
 * `bits`-bit integers with one f16 scale per group of inputs, part by part; the f16 parts are
 * destroyed once the queue has run the kernel.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { createBuffer } from "../../gpu/buffers.ts";
import { dispatchLinear } from "../../gpu/dispatch.ts";
import type { GpuMatrix, RowPart } from "../../gpu/row_split.ts";
import { scaleWords } from "./matmul.ts";

/** u32 words of one quantized row of `cols` inputs at `bits` bits. */
export function quantRowWords(cols: number, bits: 4 | 8): number {
  return Math.ceil((cols * bits) / 32);
}

/** Quantizes the f16 matrix `m` (consumed: its buffers are destroyed) to `bits` bits in groups. */
export async function quantizeMatrix(
  gpu: Gpu,
  m: GpuMatrix,
  bits: 4 | 8,
  group: number,
): Promise<GpuMatrix> {
  if (m.quant) throw new RangeError("quantizeMatrix takes an f16 matrix");
  if (group % (32 / bits) !== 0 || group % 4 !== 0) {
    throw new RangeError(`Group size ${group} must be a multiple of ${Math.max(4, 32 / bits)}`);
  }
  const sw = scaleWords(m.cols, group);
  const wg = gpu.profile.elementwise;
  const enc = gpu.device.createCommandEncoder({ label: "quantize weights" });
  const pass = enc.beginComputePass();
  const parts: RowPart[] = [];
  for (const part of m.parts) {
    const pipeline = await gpu.kernels.pipeline(["quantize_weights"], "main", {
      WG: wg,
      BITS: bits,
      GROUP: group,
      K: m.cols,
      N: part.numRows,
      SCALE_WORDS: sw,
    });
    const label = part.buffer.label;
    const q = createBuffer(
      gpu.device,
      `${label}.q${bits}`,
      part.numRows * quantRowWords(m.cols, bits) * 4,
    );
    const scales = createBuffer(gpu.device, `${label}.scales`, part.numRows * sw * 4);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, gpu.kernels.bindGroup(pipeline, [part.buffer, q, scales]));
    dispatchLinear(pass, Math.ceil((part.numRows * sw) / wg));
    parts.push({ rowStart: part.rowStart, numRows: part.numRows, buffer: q, scales });
  }
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  // Waiting bounds memory: the f16 copy and its staging go before the next matrix uploads.
  await gpu.device.queue.onSubmittedWorkDone();
  for (const part of m.parts) part.buffer.destroy();
  gpu.kernels.clearBindGroups();
  return { rows: m.rows, cols: m.cols, parts, quant: { bits, group } };
}
