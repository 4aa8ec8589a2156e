// Log-probabilities next to sampling, one workgroup per sample s, from the logits the sampler
// read (after penalties, before temperature, as vLLM reports raw logprobs):
//   logprob(i) = l_i - lse,  lse = max + log(sum_j exp(l_j - max)).
// out[s][0] = logprob of out_tokens[s] (f32 bits); for k < TOP, out[s][1 + 2k] = id of the
// k-th most likely token and out[s][2 + 2k] its logprob (f32 bits). Order: logit descending,
// lowest id first on ties; ids past the vocabulary are 0xffffffff.
// bindings: 0 logits array<f32> [samples][VOCAB], 1 out_tokens array<u32> [samples],
//           2 out array<u32> [samples][1 + 2 TOP], 3 count uniform
// dispatch: (samples, 1, 1); WG is a power of two <= 256.
override WG: u32 = 8u;
override VOCAB: u32;
override TOP: u32 = 20u;
const MAX_WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> out_tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> count: Count;

var<workgroup> red_f: array<f32, MAX_WG>;
var<workgroup> red_u: array<u32, MAX_WG>;

// (v, i) comes before (w, j): a larger logit, or the same logit and a lower id.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
  return j == NONE || (i != NONE && (v > w || (v == w && i < j)));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let s = wid.x;
  if (s >= count.n) { return; }
  let base = s * VOCAB;
  let chunk = (VOCAB + WG - 1u) / WG;
  let lo = min(VOCAB, lane * chunk);
  let hi = min(VOCAB, lo + chunk);
  let stride = 1u + 2u * TOP;

  // TOP rounds of argmax over what ranks after the previous pick; round 0 gives the max
  var prev_v = 0.0;
  var prev_i = NONE;
  var big = 0.0;
  var picks: array<u32, 64>;
  var values: array<f32, 64>;
  let rounds = max(1u, min(TOP, 64u));
  for (var k = 0u; k < rounds; k++) {
    var best_v = 0.0;
    var best_i = NONE;
    for (var i = lo; i < hi; i++) {
      let v = logits[base + i];
      let after_prev = k == 0u || before(prev_v, prev_i, v, i);
      if (after_prev && before(v, i, best_v, best_i)) { best_v = v; best_i = i; }
    }
    red_f[lane] = best_v;
    red_u[lane] = best_i;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st = st / 2u) {
      if (lane < st && before(red_f[lane + st], red_u[lane + st], red_f[lane], red_u[lane])) {
        red_f[lane] = red_f[lane + st];
        red_u[lane] = red_u[lane + st];
      }
      workgroupBarrier();
    }
    prev_v = red_f[0];
    prev_i = red_u[0];
    workgroupBarrier();
    if (k == 0u) { big = prev_v; }
    picks[k] = prev_i;
    values[k] = prev_v;
  }

  var m = 0.0;
  for (var i = lo; i < hi; i++) { m += exp(logits[base + i] - big); }
  red_f[lane] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st = st / 2u) {
    if (lane < st) { red_f[lane] += red_f[lane + st]; }
    workgroupBarrier();
  }
  let lse = big + log(red_f[0]);

  if (lane == 0u) {
    let o = s * stride;
    out[o] = bitcast<u32>(logits[base + out_tokens[s]] - lse);
    for (var k = 0u; k < TOP; k++) {
      let id = select(NONE, picks[k], k < rounds);
      out[o + 1u + 2u * k] = id;
      out[o + 2u + 2u * k] = bitcast<u32>(select(0.0, values[k] - lse, id != NONE));
    }
  }
}
