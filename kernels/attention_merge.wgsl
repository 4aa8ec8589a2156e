// Merges the per-split states of paged_attention.wgsl (flash-decoding reduce); with one split it
// only normalises:
//   M = max_s m_s, L = sum_s l_s e^(m_s - M), out[r][h][d] = sum_s acc_s[d] e^(m_s - M) / L
// bindings: 0 partial array<f32> [rows][NUM_HEADS][S][HEAD_DIM + 2] (acc, m, l),
//           1 out array<f32> [rows][NUM_HEADS * HEAD_DIM], 2 params uniform (rows, S)
// dispatch: (ceil(NUM_HEADS * HEAD_DIM / WG), rows)
override WG: u32 = 8u;
override NUM_HEADS: u32;
override HEAD_DIM: u32;

struct Params { rows: u32, splits: u32 }

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  if (gid.x >= NUM_HEADS * HEAD_DIM || r >= params.rows) { return; }
  let h = gid.x / HEAD_DIM;
  let d = gid.x % HEAD_DIM;
  let stride = HEAD_DIM + 2u;
  let base = (r * NUM_HEADS + h) * params.splits * stride;
  var big = partial[base + HEAD_DIM];
  for (var s = 1u; s < params.splits; s++) { big = max(big, partial[base + s * stride + HEAD_DIM]); }
  var l = 0.0;
  var o = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    let at = base + s * stride;
    let e = exp(partial[at + HEAD_DIM] - big);
    l += partial[at + HEAD_DIM + 1u] * e;
    o += partial[at + d] * e;
  }
  out[r * NUM_HEADS * HEAD_DIM + gid.x] = o / l;
}
