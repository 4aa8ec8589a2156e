/**
 * The one registry of weight dtypes: how the runner stores a checkpoint's matrices on the GPU.
 * `f16` keeps them as they load; `int8` and `int4` are symmetric integers with one f16 scale per
 * group of WEIGHT_GROUP_SIZE inputs, quantized at load by kernels/quantize_weights.wgsl and
 * dequantized inside the matmul. Embedding lookups, norms and biases always stay f16/f32.
 * @module
 */
import { z } from "zod";

/** Every weight dtype name. */
export const WEIGHTS_DTYPE_NAMES = ["f16", "int8", "int4"] as const;

/** A weight dtype name (what `--weights-dtype` takes). */
export type WeightsDtype = typeof WEIGHTS_DTYPE_NAMES[number];

/** Schema of a weight dtype name. */
export const weightsDtypeSchema: z.ZodType<WeightsDtype> = z.enum(WEIGHTS_DTYPE_NAMES);

/**
 * Inputs sharing one scale. Measured by bench/weights_agreement.ts (reports/bench/weights.md):
 * on stories260k int8 agrees with f16 on 88% / 85% / 76% of greedy tokens at 32 / 64 / 128,
 * so 64 stays within a few points of 32 at half the scale bytes.
 */
export const WEIGHT_GROUP_SIZE = 64;

/** Bits per stored weight, scales excluded. */
export function weightBits(dtype: WeightsDtype): 16 | 8 | 4 {
  return dtype === "f16" ? 16 : dtype === "int8" ? 8 : 4;
}
