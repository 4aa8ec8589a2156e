// OpenAI presence and frequency penalties, applied in place to the logits before sampling, one
// workgroup per sampling sequence s (logits row s), as vLLM applies them over the tokens the
// sequence has generated so far:
//   logit[t] -= frequency * count[t] + presence * (count[t] > 0)
// The counts live per GPU slot and are kept by the sample kernel (it adds each sampled token of
// a penalized sequence), so a step never waits on the host to learn its own history.
// A row whose penalised flag is 0 is left untouched: penalties never move other rows.
// bindings: 0 logits array<f32> [samples][VOCAB] (read_write)
//           1 params array<u32> [samples][SAMPLE_WORDS] (sample.wgsl's layout: word 0 slot,
//             8 presence (f32 bits), 9 frequency (f32 bits), 10 penalised flag)
//           2 token_counts array<u32> [slots][VOCAB], 3 count uniform
// dispatch: (samples, 1, 1)
override WG: u32 = 8u;
override VOCAB: u32;
const SAMPLE_WORDS: u32 = 12u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<u32>;
@group(0) @binding(2) var<storage, read> token_counts: array<u32>;
@group(0) @binding(3) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let s = wid.x;
  if (s >= count.n) { return; }
  let p = s * SAMPLE_WORDS;
  if (params[p + 10u] == 0u) { return; }
  let presence = bitcast<f32>(params[p + 8u]);
  let frequency = bitcast<f32>(params[p + 9u]);
  let counts_base = params[p] * VOCAB;
  let base = s * VOCAB;
  // strided lanes: neighbouring lanes read neighbouring words
  for (var i = lane; i < VOCAB; i += WG) {
    let c = token_counts[counts_base + i];
    if (c > 0u) { logits[base + i] -= frequency * f32(c) + presence; }
  }
}
