// Paged causal attention for the rows of a step, flash-decoding style. Loaded after
// kv_decode.wgsl, kv_load.wgsl, kv_lanes.wgsl and the generated kv_lanes_quant
// (src/runner/ops/attention.ts): a quantized block's K/V come a lane's channels at a time from
// its family's lane decoder (kv_lanes.wgsl), f16 ones two at a time from kv_f16_pair.
//   Row r (sequence rows[r].seq, position p) attends to its sequence's tokens 0..p through the
//   sequence's block table; q heads kvh * GROUP .. + GROUP share KV head kvh; scale SCALE.
//   One workgroup per (row, KV head, split) covers every q head of the GQA group, so each K/V
//   element of a block is decoded once, by the lane that owns its channel: lane i holds
//   channels [i * DPL, (i + 1) * DPL) of q and of the output accumulators of every group head.
//   Per block: lanes write partial dot products to workgroup memory, reduce them to scores
//   (barrier), update the online softmax and accumulate V (barrier).
//   Split s of window w covers tokens [(w * S + s) * T, + T) (S = splits, T = split_tokens), so
//   that no invocation loops over more than T tokens (lavapipe stops every loop of an
//   invocation after 65535 iterations in total). The runner dispatches windows 0, 1, ... in
//   order; each carries the state (acc, m, l) of its slot in `state` to the next, window 0
//   initialising every slot, and attention_merge.wgsl combines the S slots of a head.
//   Entry e's word 3 is the cache position of its first token, so the first block of a split is
//   found by binary search (blocks closed at a phase change hold fewer than BLOCK_SIZE tokens).
// bindings: 0 qkv array<f32> [rows][QKV_STRIDE] (q heads first)
//           1 rows array<u32> [rows][ROW_WORDS] (word 1 position, word 2 seq index)
//           2 seqs array<u32> [seqs][SEQ_WORDS] (word 0 first table entry, word 1 entries)
//           3 table array<u32> [entries][TABLE_WORDS] (block word offset, dtype id, tokens, start)
//           4 kv_pool array<u32>
//           5 state array<f32> [rows][NUM_HEADS][S][HEAD_DIM + 2] (acc unnormalised, m, l)
//           6 params uniform (rows, S, T, window)
// dispatch: (NUM_KV_HEADS * S, rows) workgroups of LANES threads, once per window.
override LANES: u32 = 8u;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override BLOCK_SIZE: u32;
override HEAD_DIM: u32;
override QKV_STRIDE: u32;
override SCALE: f32;
override GROUP: u32 = NUM_HEADS / NUM_KV_HEADS;
// Channels per lane; even, so f16 channels come in whole words.
override DPL: u32 = HEAD_DIM / LANES;
const ROW_WORDS: u32 = 8u;
const SEQ_WORDS: u32 = 4u;
const TABLE_WORDS: u32 = 4u;
// Private-array capacities (the host checks GROUP * DPL and DPL against them).
const MAX_LANE_VALUES: u32 = 128u;
const MAX_DPL: u32 = 32u;
const MAX_GROUP: u32 = 16u;
// Finite stand-in for -inf: exp(NEG_BIG - x) is 0 without inf - inf = NaN.
const NEG_BIG: f32 = -1e30;

struct Params { rows: u32, splits: u32, split_tokens: u32, window: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> seqs: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read> kv_pool: array<u32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

// [GROUP][BLOCK_SIZE][LANES] partial dot products, then [GROUP][BLOCK_SIZE] scores.
var<workgroup> partial_dots: array<f32, GROUP * BLOCK_SIZE * LANES>;
var<workgroup> scores: array<f32, GROUP * BLOCK_SIZE>;

var<private> q: array<f32, MAX_LANE_VALUES>;
var<private> acc: array<f32, MAX_LANE_VALUES>;
var<private> m: array<f32, MAX_GROUP>;
var<private> l: array<f32, MAX_GROUP>;
// This lane's DPL channels of one token's K or V.
var<private> kv: array<f32, MAX_DPL>;

// Loads channels d0 .. d0 + DPL of token t's K (is_v false) or V into `kv`; `fresh` marks the
// first token of a block this lane loads (KIVI keys cache per-block params then). Quantized
// blocks go through kv_lanes_quant, which the host generates from the dtype registry: one
// branch per dtype calling its family's lane decoder with the dtype's bits as constants, so the
// dtype switch runs once per token rather than once per element and each decode is specialised.
fn load_lane(word: u32, dtype: u32, is_v: bool, kvh: u32, t: u32, d0: u32, fresh: bool) {
  if (dtype == 0u) {
    for (var i = 0u; i < DPL; i += 2u) {
      let pair = kv_f16_pair(word, is_v, kvh, t, d0 + i);
      kv[i] = pair.x;
      kv[i + 1u] = pair.y;
    }
  } else {
    kv_lanes_quant(word, dtype, is_v, kvh, t, d0, fresh);
  }
}

fn state_at(r: u32, h: u32, split: u32) -> u32 {
  return ((r * NUM_HEADS + h) * params.splits + split) * (HEAD_DIM + 2u);
}

@compute @workgroup_size(LANES)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let r = wid.y;
  let splits = params.splits;
  let split = wid.x % splits;
  let kvh = wid.x / splits;
  let ctx = rows[r * ROW_WORDS + 1u] + 1u;
  let seq = rows[r * ROW_WORDS + 2u];
  let first = seqs[seq * SEQ_WORDS];
  let num_entries = seqs[seq * SEQ_WORDS + 1u];
  let start = (params.window * splits + split) * params.split_tokens;
  let end = min(ctx, start + params.split_tokens);
  let resume = params.window > 0u;
  // later windows leave the state of an empty split as it is
  if (resume && start >= end) { return; }
  let d0 = lane * DPL;

  for (var g = 0u; g < GROUP; g++) {
    let h = kvh * GROUP + g;
    let qb = r * QKV_STRIDE + h * HEAD_DIM + d0;
    let sb = state_at(r, h, split);
    for (var i = 0u; i < DPL; i++) {
      q[g * DPL + i] = qkv[qb + i] * SCALE;
      acc[g * DPL + i] = select(0.0, state[sb + d0 + i], resume);
    }
    m[g] = select(NEG_BIG, state[sb + HEAD_DIM], resume);
    l[g] = select(0.0, state[sb + HEAD_DIM + 1u], resume);
  }

  // last entry whose first token is at or before `start`
  var lo = 0u;
  var hi = max(num_entries, 1u);
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (table[(first + mid) * TABLE_WORDS + 3u] <= start) { lo = mid; } else { hi = mid; }
  }
  for (var e = lo; e < num_entries && start < end; e++) {
    let entry = (first + e) * TABLE_WORDS;
    let block_start = table[entry + 3u];
    if (block_start >= end) { break; }
    let word = table[entry];
    let dtype = table[entry + 1u];
    let t_lo = max(start, block_start) - block_start;
    let t_hi = min(end, block_start + table[entry + 2u]) - block_start;
    if (t_hi <= t_lo) { continue; }
    let nt = t_hi - t_lo;

    // this lane's share of q · k for every (group head, token)
    for (var t = t_lo; t < t_hi; t++) {
      load_lane(word, dtype, false, kvh, t, d0, t == t_lo);
      for (var g = 0u; g < GROUP; g++) {
        var s = 0.0;
        for (var i = 0u; i < DPL; i++) { s += q[g * DPL + i] * kv[i]; }
        partial_dots[(g * BLOCK_SIZE + t - t_lo) * LANES + lane] = s;
      }
    }
    workgroupBarrier();
    for (var p = lane; p < GROUP * nt; p += LANES) {
      let at = ((p / nt) * BLOCK_SIZE + p % nt);
      var s = 0.0;
      for (var i = 0u; i < LANES; i++) { s += partial_dots[at * LANES + i]; }
      scores[at] = s;
    }
    workgroupBarrier();

    // online softmax over the block's tokens, then V
    for (var g = 0u; g < GROUP; g++) {
      var m_new = m[g];
      for (var t = 0u; t < nt; t++) { m_new = max(m_new, scores[g * BLOCK_SIZE + t]); }
      let alpha = exp(m[g] - m_new);
      l[g] *= alpha;
      for (var i = 0u; i < DPL; i++) { acc[g * DPL + i] *= alpha; }
      m[g] = m_new;
    }
    for (var t = t_lo; t < t_hi; t++) {
      load_lane(word, dtype, true, kvh, t, d0, t == t_lo);
      for (var g = 0u; g < GROUP; g++) {
        let p = exp(scores[g * BLOCK_SIZE + t - t_lo] - m[g]);
        l[g] += p;
        for (var i = 0u; i < DPL; i++) { acc[g * DPL + i] += p * kv[i]; }
      }
    }
    // No third barrier: the next block writes partial_dots (read only before the second
    // barrier) and then scores only after its own first barrier, which every lane reaches
    // after finishing this block.
  }

  for (var g = 0u; g < GROUP; g++) {
    let sb = state_at(r, kvh * GROUP + g, split);
    for (var i = 0u; i < DPL; i++) { state[sb + d0 + i] = acc[g * DPL + i]; }
    if (lane == 0u) {
      state[sb + HEAD_DIM] = m[g];
      state[sb + HEAD_DIM + 1u] = l[g];
    }
  }
}
