/**
 * Oracle of RoPE scaling, transcribed step by step from transformers' modeling_rope_utils
 * (`_compute_default_rope_parameters`, `_compute_llama3_parameters`, `_compute_yarn_parameters`)
 * in float64, reading the raw config.json fields (not phasekv's parsed RopeScaling).
 * @module
 */

/** The config fields the oracle reads. */
export interface RopeConfig {
  head_dim: number;
  rope_theta: number;
  max_position_embeddings: number;
  rope_scaling?: Record<string, unknown> | null;
}

/** inv_freq and attention_factor as transformers returns them. */
export interface RopeOracle {
  invFreq: number[];
  attentionFactor: number;
}

const arange = (start: number, end: number, step = 1) =>
  Array.from({ length: Math.ceil((end - start) / step) }, (_, i) => start + i * step);

function defaultInvFreq(c: RopeConfig): number[] {
  return arange(0, c.head_dim, 2).map((i) => 1.0 / c.rope_theta ** (i / c.head_dim));
}

function llama3(c: RopeConfig, rs: Record<string, number>): RopeOracle {
  const invFreq = defaultInvFreq(c);
  const factor = rs.factor;
  const lowFreqFactor = rs.low_freq_factor;
  const highFreqFactor = rs.high_freq_factor;
  const oldContextLen = rs.original_max_position_embeddings;
  const lowFreqWavelen = oldContextLen / lowFreqFactor;
  const highFreqWavelen = oldContextLen / highFreqFactor;
  const wavelen = invFreq.map((f) => (2 * Math.PI) / f);
  // inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
  let invFreqLlama = invFreq.map((f, i) => (wavelen[i] > lowFreqWavelen ? f / factor : f));
  const smoothFactor = wavelen.map((w) =>
    (oldContextLen / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
  );
  const smoothed = invFreqLlama.map((f, i) =>
    ((1 - smoothFactor[i]) * f) / factor + smoothFactor[i] * f
  );
  const isMedium = wavelen.map((w) => !(w < highFreqWavelen) && !(w > lowFreqWavelen));
  invFreqLlama = invFreqLlama.map((f, i) => (isMedium[i] ? smoothed[i] : f));
  return { invFreq: invFreqLlama, attentionFactor: 1.0 };
}

function yarn(c: RopeConfig, rs: Record<string, unknown>): RopeOracle {
  const base = c.rope_theta;
  const dim = c.head_dim;
  const factor = rs.factor as number;
  let attentionFactor = rs.attention_factor as number | undefined;
  const mscale = rs.mscale as number | undefined;
  const mscaleAllDim = rs.mscale_all_dim as number | undefined;
  const originalMax = (rs.original_max_position_embeddings as number | undefined) ??
    c.max_position_embeddings;
  const getMscale = (scale: number, m = 1) => (scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0);
  if (attentionFactor === undefined || attentionFactor === null) {
    attentionFactor = mscale && mscaleAllDim
      ? getMscale(factor, mscale) / getMscale(factor, mscaleAllDim)
      : getMscale(factor);
  }
  const betaFast = (rs.beta_fast as number | undefined) || 32;
  const betaSlow = (rs.beta_slow as number | undefined) || 1;
  const findCorrectionDim = (numRotations: number) =>
    (dim * Math.log(originalMax / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
  const truncate = (rs.truncate as boolean | undefined) ?? true;
  let low = findCorrectionDim(betaFast);
  let high = findCorrectionDim(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  const linearRampFactor = (min: number, max: number, n: number) => {
    if (min === max) max += 0.001;
    return arange(0, n).map((i) => Math.min(1, Math.max(0, (i - min) / (max - min))));
  };
  const posFreqs = arange(0, dim, 2).map((i) => base ** (i / dim));
  const extrapolation = posFreqs.map((p) => 1.0 / p);
  const interpolation = posFreqs.map((p) => 1.0 / (factor * p));
  const extrapolationFactor = linearRampFactor(low, high, dim / 2).map((r) => 1 - r);
  const invFreq = interpolation.map((f, i) =>
    f * (1 - extrapolationFactor[i]) + extrapolation[i] * extrapolationFactor[i]
  );
  return { invFreq, attentionFactor };
}

/** transformers' RoPE parameters for `c`. */
export function ropeOracle(c: RopeConfig): RopeOracle {
  const rs = c.rope_scaling;
  const type = rs ? (rs.rope_type ?? rs.type ?? "default") : "default";
  if (type === "default") return { invFreq: defaultInvFreq(c), attentionFactor: 1.0 };
  if (type === "llama3") return llama3(c, rs as Record<string, number>);
  if (type === "yarn") return yarn(c, rs!);
  throw new Error(`oracle has no rope type ${String(type)}`);
}
