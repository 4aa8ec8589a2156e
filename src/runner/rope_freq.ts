/**
 * RoPE inverse frequencies, computed as Hugging Face does (float32 of theta^(-2i/d)), so the GPU
 * angle position * inv_freq[i] matches transformers' rounding.
 * @module
 */

/** inv_freq[i] = 1 / theta^(2i / headDim) for i < headDim / 2, rounded to f32. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) out[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return out;
}
