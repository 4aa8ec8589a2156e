/**
 * Conversions between the stored dtypes of checkpoint tensors (F32, F16, BF16) and the host
 * representations the rest of the runtime works from: f32 values and f16 bit patterns.
 * Every f32 → f16/bf16 conversion rounds to nearest, ties to even, as GPUs and PyTorch do.
 * @module
 */
import type { HostTensor, TensorDtype } from "./spec.ts";

/** Bytes one element of each stored dtype takes. */
export const TENSOR_DTYPE_BYTES: Readonly<Record<TensorDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
};

/** Number of elements of a shape (1 for a scalar's empty shape). */
export function numElements(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Rounds a number to the nearest f16 and back (the precision the GPU stores). */
export function roundF16(x: number): number {
  return Math.f16round(x);
}

/** Converts f32 values to f16 bit patterns, round to nearest even; overflow gives ±Infinity. */
export function f32ToF16Bits(values: Float32Array): Uint16Array {
  const half = Float16Array.from(values);
  return new Uint16Array(half.buffer);
}

/** Converts f16 bit patterns to f32 values (exact: every f16 is an f32). */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const half = new Float16Array(bits.buffer, bits.byteOffset, bits.length);
  return Float32Array.from(half);
}

/** Converts f32 values to bf16 bit patterns, round to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16Bits(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if ((w & 0x7fffffff) > 0x7f800000) {
      out[i] = (w >>> 16) | 0x0040;
      continue;
    }
    // Adding 0x7fff plus the lowest kept bit rounds ties toward the even neighbour.
    const rounding = 0x7fff + ((w >>> 16) & 1);
    out[i] = ((w + rounding) >>> 16) & 0xffff;
  }
  return out;
}

/** Converts bf16 bit patterns to f32 values (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return new Float32Array(words.buffer);
}

/** The tensor's values as f32 (a fresh array; the tensor's bytes are left untouched). */
export function toFloat32(tensor: HostTensor): Float32Array {
  const bytes = alignedCopy(tensor.bytes);
  switch (tensor.dtype) {
    case "F32":
      return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    case "F16":
      return f16BitsToF32(new Uint16Array(bytes.buffer, 0, bytes.length / 2));
    case "BF16":
      return bf16BitsToF32(new Uint16Array(bytes.buffer, 0, bytes.length / 2));
  }
}

/** The tensor's values as f16 bit patterns, rounded to nearest even from F32 or BF16. */
export function toF16Bits(tensor: HostTensor): Uint16Array {
  if (tensor.dtype === "F16") {
    const bytes = alignedCopy(tensor.bytes);
    return new Uint16Array(bytes.buffer, 0, bytes.length / 2);
  }
  // BF16 → F32 is exact, so this rounds only once.
  return f32ToF16Bits(toFloat32(tensor));
}

/** Encodes f32 values as a tensor of the given stored dtype (little-endian bytes). */
export function fromFloat32(
  name: string,
  shape: readonly number[],
  values: Float32Array,
  dtype: TensorDtype,
): HostTensor {
  if (values.length !== numElements(shape)) {
    throw new RangeError(
      `Tensor ${name} has ${values.length} values but shape [${shape.join(", ")}]`,
    );
  }
  let words: ArrayBufferView;
  if (dtype === "F32") words = Float32Array.from(values);
  else if (dtype === "F16") words = f32ToF16Bits(values);
  else words = f32ToBf16Bits(values);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  return { name, dtype, shape: [...shape], bytes };
}

// Typed-array views need an element-aligned offset; a tensor sliced from a file rarely has one.
// Hosts are little-endian (x86, ARM), as safetensors stores, so a byte copy is a valid view.
function alignedCopy(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}
