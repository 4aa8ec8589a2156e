// Paged causal attention with online softmax and split-K (flash-decoding), for the rows of a
// step. Loaded after kv_decode.wgsl and kv_load.wgsl (K/V elements come from kv_k / kv_v).
//   row r (sequence rows[r].seq, position p) attends to its sequence's tokens 0..p through the
//   sequence's block table; q head h reads kv head h / (NUM_HEADS / NUM_KV_HEADS); scale SCALE.
//   Split s of S covers tokens [s * C, (s + 1) * C), C = ceil((p + 1) / S). A block may hold
//   fewer than BLOCK_SIZE tokens (one closed at a phase change), so cache positions are mapped
//   to blocks through the running sum of each entry's token count. With S == 1 the output is written directly; otherwise (acc, m, l) go to `partial`
//   and attention_merge.wgsl combines them.
// bindings: 0 qkv array<f32> [rows][QKV_STRIDE] (q heads first)
//           1 rows array<u32> [rows][ROW_WORDS] (word 1 position, word 2 seq index)
//           2 seqs array<u32> [seqs][SEQ_WORDS] (word 0 first table entry, word 1 entries)
//           3 table array<u32> [entries][TABLE_WORDS] (block word offset, dtype id, tokens)
//           4 kv_pool array<u32>
//           5 out array<f32> [rows][NUM_HEADS * HEAD_DIM]
//           6 partial array<f32> [rows][NUM_HEADS][S][HEAD_DIM + 2]
//           7 params uniform (rows, S)
// dispatch: (ceil(NUM_HEADS * S / WG), rows); one thread per (row, head, split), no barriers.
override WG: u32 = 8u;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override BLOCK_SIZE: u32;
override HEAD_DIM: u32;
override QKV_STRIDE: u32;
override SCALE: f32;
const ROW_WORDS: u32 = 8u;
const SEQ_WORDS: u32 = 4u;
const TABLE_WORDS: u32 = 4u;
const MAX_HEAD_DIM: u32 = 256u;
// Finite stand-in for -inf: exp(NEG_BIG - x) is 0 without inf - inf = NaN.
const NEG_BIG: f32 = -1e30;

struct Params { rows: u32, splits: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> seqs: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read> kv_pool: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  let splits = params.splits;
  if (gid.x >= NUM_HEADS * splits || r >= params.rows) { return; }
  let h = gid.x / splits;
  let split = gid.x % splits;
  let kvh = h / (NUM_HEADS / NUM_KV_HEADS);
  let ctx = rows[r * ROW_WORDS + 1u] + 1u;
  let seq = rows[r * ROW_WORDS + 2u];
  let first_entry = seqs[seq * SEQ_WORDS];
  let num_entries = seqs[seq * SEQ_WORDS + 1u];
  let chunk = (ctx + splits - 1u) / splits;
  let start = split * chunk;
  let end = min(ctx, start + chunk);

  var q: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  let q_base = r * QKV_STRIDE + h * HEAD_DIM;
  for (var d = 0u; d < HEAD_DIM; d++) {
    q[d] = qkv[q_base + d] * SCALE;
    acc[d] = 0.0;
  }
  var m = NEG_BIG;
  var l = 0.0;
  var block_start = 0u;
  for (var e = 0u; e < num_entries && block_start < end; e++) {
    let entry = (first_entry + e) * TABLE_WORDS;
    let word = table[entry];
    let dtype = table[entry + 1u];
    let n = table[entry + 2u];
    let lo = max(start, block_start);
    let hi = min(end, block_start + n);
    for (var j = lo; j < hi; j++) {
      let t = j - block_start;
      var s = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { s += q[d] * kv_k(word, dtype, kvh, t, d); }
      let m_new = max(m, s);
      let alpha = exp(m - m_new);
      let p = exp(s - m_new);
      l = l * alpha + p;
      for (var d = 0u; d < HEAD_DIM; d++) {
        acc[d] = acc[d] * alpha + p * kv_v(word, dtype, kvh, t, d);
      }
      m = m_new;
    }
    block_start += n;
  }
  if (splits == 1u) {
    let o = (r * NUM_HEADS + h) * HEAD_DIM;
    for (var d = 0u; d < HEAD_DIM; d++) { out[o + d] = acc[d] / l; }
    return;
  }
  let base = ((r * NUM_HEADS + h) * splits + split) * (HEAD_DIM + 2u);
  for (var d = 0u; d < HEAD_DIM; d++) { partial[base + d] = acc[d]; }
  partial[base + HEAD_DIM] = m;
  partial[base + HEAD_DIM + 1u] = l;
}
