// Token sampling on the GPU, one workgroup per sampling sequence s (logits row s):
//   temperature 0: argmax (lowest index on ties).
//   otherwise p_i ∝ exp((l_i - max) / T) over the kept set, which is, in this order:
//     top-k (tokens whose logit is >= the k-th largest; 0 or >= VOCAB disables),
//     min-p (p_i >= min_p * p_max), then top-p over what is left (the smallest set of the most
//     likely tokens whose mass reaches top_p of the kept mass; 1 disables).
//   Thresholds are found exactly by bisection over the bits of an order-preserving u32 key of
//   the logits (32 counting passes), so no sort is needed. The draw u = rng(seed, sample_index)
//   in [0, 1) walks the kept tokens in index order: the same seed and index give the same
//   token whatever else is in the batch.
// The token goes to out_tokens[s] and to last_token[slot] (read by the next step's embedding);
// for a penalised sequence it is also counted in token_counts[slot] (penalize.wgsl reads them).
// bindings: 0 logits array<f32> [samples][VOCAB]
//           1 params array<u32> [samples][SAMPLE_WORDS]: slot, seed_lo, seed_hi, sample_index,
//             temperature (f32 bits), top_k, top_p (f32 bits), min_p (f32 bits),
//             presence (f32 bits), frequency (f32 bits), penalised flag, unused
//           2 last_token array<u32> [slots], 3 out_tokens array<u32> [samples], 4 count uniform
//           5 token_counts array<u32> [slots][VOCAB]
// dispatch: (samples, 1, 1); WG is a power of two <= 256.
override WG: u32 = 8u;
override VOCAB: u32;
const SAMPLE_WORDS: u32 = 12u;
const MAX_WG: u32 = 256u;

struct Count { n: u32 }
struct Sampling { temperature: f32, top_k: u32, top_p: f32, min_p: f32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<u32>;
@group(0) @binding(2) var<storage, read_write> last_token: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_tokens: array<u32>;
@group(0) @binding(4) var<uniform> count: Count;
@group(0) @binding(5) var<storage, read_write> token_counts: array<u32>;

var<workgroup> red_f: array<f32, MAX_WG>;
var<workgroup> red_u: array<u32, MAX_WG>;
var<workgroup> shared_sampling: Sampling;

// Monotone map from f32 to u32: a < b as floats iff key(a) < key(b) as u32.
fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform draw in [0, 1) from (seed, index) alone.
fn uniform01(seed_lo: u32, seed_hi: u32, index: u32) -> f32 {
  let h = pcg_hash(seed_lo ^ pcg_hash(seed_hi ^ pcg_hash(index)));
  return f32(h >> 8u) / 16777216.0;
}

fn sum_f(lane: u32, v: f32) -> f32 {
  red_f[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { red_f[lane] += red_f[lane + s]; }
    workgroupBarrier();
  }
  let total = red_f[0];
  workgroupBarrier();
  return total;
}

fn sum_u(lane: u32, v: u32) -> u32 {
  red_u[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { red_u[lane] += red_u[lane + s]; }
    workgroupBarrier();
  }
  let total = red_u[0];
  workgroupBarrier();
  return total;
}

// Count of this lane's chunk with key >= t.
fn count_at_least(base: u32, lo: u32, hi: u32, t: u32) -> u32 {
  var c = 0u;
  for (var i = lo; i < hi; i++) { c += select(0u, 1u, key_of(logits[base + i]) >= t); }
  return c;
}

// Unnormalised probability mass of this lane's chunk with key >= t.
fn mass_at_least(base: u32, lo: u32, hi: u32, t: u32, big: f32, inv_t: f32) -> f32 {
  var m = 0.0;
  for (var i = lo; i < hi; i++) {
    let v = logits[base + i];
    if (key_of(v) >= t) { m += exp((v - big) * inv_t); }
  }
  return m;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let s = wid.x;
  if (s >= count.n) { return; }
  let p = s * SAMPLE_WORDS;
  if (lane == 0u) {
    shared_sampling = Sampling(
      bitcast<f32>(params[p + 4u]), params[p + 5u], bitcast<f32>(params[p + 6u]),
      bitcast<f32>(params[p + 7u]),
    );
  }
  let sp = workgroupUniformLoad(&shared_sampling);
  let base = s * VOCAB;
  let chunk = (VOCAB + WG - 1u) / WG;
  let lo = min(VOCAB, lane * chunk);
  let hi = min(VOCAB, lo + chunk);

  // argmax, lowest index first on ties (chunks are in index order)
  var best = -3.4e38;
  var best_i = 0xffffffffu;
  for (var i = lo; i < hi; i++) {
    let v = logits[base + i];
    if (v > best || best_i == 0xffffffffu) { best = v; best_i = i; }
  }
  red_f[lane] = best;
  red_u[lane] = best_i;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st = st / 2u) {
    if (lane < st) {
      let ov = red_f[lane + st];
      let oi = red_u[lane + st];
      if (oi != 0xffffffffu && (ov > red_f[lane] || red_u[lane] == 0xffffffffu)) {
        red_f[lane] = ov;
        red_u[lane] = oi;
      }
    }
    workgroupBarrier();
  }
  let big = red_f[0];
  var token = red_u[0];
  workgroupBarrier();

  if (sp.temperature > 0.0) {
    let inv_t = 1.0 / sp.temperature;
    var floor_key = 0u;
    if (sp.top_k > 0u && sp.top_k < VOCAB) {
      // Largest t with count(key >= t) >= top_k, built bit by bit: the k-th largest key.
      var t = 0u;
      for (var bit = 31i; bit >= 0i; bit--) {
        let cand = t | (1u << u32(bit));
        if (sum_u(lane, count_at_least(base, lo, hi, cand)) >= sp.top_k) { t = cand; }
      }
      floor_key = t;
    }
    if (sp.min_p > 0.0) {
      floor_key = max(floor_key, key_of(big + sp.temperature * log(sp.min_p)));
    }
    let kept = sum_f(lane, mass_at_least(base, lo, hi, floor_key, big, inv_t));
    if (sp.top_p < 1.0) {
      // Largest t whose kept mass at or above it still reaches top_p of the kept mass.
      let goal = sp.top_p * kept;
      var t = 0u;
      for (var bit = 31i; bit >= 0i; bit--) {
        let cand = t | (1u << u32(bit));
        let mass = sum_f(lane, mass_at_least(base, lo, hi, max(cand, floor_key), big, inv_t));
        if (mass >= goal) { t = cand; }
      }
      floor_key = max(floor_key, t);
    }
    // Walk: lane prefix sums of the kept mass, then the lane holding u scans its chunk.
    let mine = mass_at_least(base, lo, hi, floor_key, big, inv_t);
    red_f[lane] = mine;
    workgroupBarrier();
    // Every lane sums in the same order, so all see the same total and the same u.
    var before = 0.0;
    var total = 0.0;
    for (var i = 0u; i < WG; i++) {
      if (i == lane) { before = total; }
      total += red_f[i];
    }
    let u = uniform01(params[p + 1u], params[p + 2u], params[p + 3u]) * total;
    red_u[lane] = 0xffffffffu;
    workgroupBarrier();
    if (mine > 0.0 && u >= before && (u < before + mine || lane == WG - 1u)) {
      var acc = before;
      var pick = 0xffffffffu;
      for (var i = lo; i < hi; i++) {
        let v = logits[base + i];
        if (key_of(v) >= floor_key) {
          pick = i;
          acc += exp((v - big) * inv_t);
          if (acc > u) { break; }
        }
      }
      red_u[lane] = pick;
    }
    workgroupBarrier();
    // Rounding can leave u past the last lane's mass; the greedy token stands in then.
    for (var i = 0u; i < WG; i++) {
      if (red_u[i] != 0xffffffffu) { token = red_u[i]; break; }
    }
  }
  if (lane == 0u) {
    out_tokens[s] = token;
    last_token[params[p]] = token;
    // one sample per slot per step, so this read-modify-write has a single writer
    if (params[p + 10u] != 0u) { token_counts[params[p] * VOCAB + token] += 1u; }
  }
}
