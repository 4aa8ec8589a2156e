/**
 * RoPE inverse frequencies and attention factor, computed as Hugging Face does: the default
 * theta^(-2i/d), and the `llama3` and `yarn` scalings of `_compute_llama3_parameters` and
 * `_compute_yarn_parameters` (in float64, rounded to f32 once, so the GPU angle
 * position * inv_freq[i] matches transformers' to an ulp). The attention factor multiplies cos
 * and sin, as transformers' rotary embedding does.
 * @module
 */
import type { RopeScaling, YarnRopeScaling } from "../model/rope_scaling.ts";

/** inv_freq[i] = 1 / theta^(2i / headDim) for i < headDim / 2, rounded to f32. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  return Float32Array.from(baseInvFreq(headDim, theta));
}

/** The inverse frequencies and the cos/sin factor of a model's RoPE. */
export interface RopeParameters {
  invFreq: Float32Array;
  attentionFactor: number;
}

/** What RoPE needs from a model spec. */
export interface RopeSpec {
  headDim: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  ropeScaling?: RopeScaling | null;
}

/** The RoPE parameters of `spec`, scaled as its rope_scaling says. */
export function ropeParameters(spec: RopeSpec): RopeParameters {
  const base = baseInvFreq(spec.headDim, spec.ropeTheta);
  const s = spec.ropeScaling;
  if (!s) return { invFreq: Float32Array.from(base), attentionFactor: 1 };
  if (s.type === "llama3") {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    const invFreq = base.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) return f; // high frequencies: unchanged
      if (wavelen > lowWavelen) return f / s.factor; // low frequencies: interpolated
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
        (s.highFreqFactor - s.lowFreqFactor);
      return (1 - smooth) * f / s.factor + smooth * f;
    });
    return { invFreq: Float32Array.from(invFreq), attentionFactor: 1 };
  }
  return yarn(spec, s, base);
}

function baseInvFreq(headDim: number, theta: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / headDim));
}

function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function yarn(spec: RopeSpec, s: YarnRopeScaling, base: number[]): RopeParameters {
  const dim = spec.headDim;
  const theta = spec.ropeTheta;
  const original = s.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings;
  const attentionFactor = s.attentionFactor ??
    (s.mscale && s.mscaleAllDim
      ? yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim)
      : yarnMscale(s.factor));
  // The dimension whose wavelength turns `rotations` times over the original context.
  const correctionDim = (rotations: number) =>
    (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(s.betaFast);
  let high = correctionDim(s.betaSlow);
  if (s.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const invFreq = base.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    return (f / s.factor) * (1 - extrapolation) + f * extrapolation;
  });
  return { invFreq: Float32Array.from(invFreq), attentionFactor };
}
