// RoPE, Hugging Face rotate-half style, in place on the q and k heads of the qkv buffer:
//   for head h < NUM_HEADS + NUM_KV_HEADS (k heads follow the q heads in a row), i < HEAD_DIM / 2,
//   a = x[i], b = x[i + HEAD_DIM / 2], angle = position(r) * inv_freq[i]
//   x[i] = a cos - b sin, x[i + HEAD_DIM / 2] = b cos + a sin
//   (cos and sin times ATTN_FACTOR: YaRN's attention factor, 1 otherwise)
// bindings: 0 qkv array<f32> [rows][STRIDE] read_write, 1 inv_freq array<f32> [HEAD_DIM / 2],
//           2 rows array<u32> [rows][ROW_WORDS] (word 1 position), 3 count uniform (n = rows)
// dispatch: (ceil((NUM_HEADS + NUM_KV_HEADS) * HEAD_DIM / 2 / WG), rows)
override WG: u32 = 8u;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override HEAD_DIM: u32;
override STRIDE: u32;
override ATTN_FACTOR: f32 = 1.0;
const ROW_WORDS: u32 = 8u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = HEAD_DIM / 2u;
  let r = gid.y;
  if (gid.x >= (NUM_HEADS + NUM_KV_HEADS) * half || r >= count.n) { return; }
  let h = gid.x / half;
  let i = gid.x % half;
  let angle = f32(rows[r * ROW_WORDS + 1u]) * inv_freq[i];
  let c = cos(angle) * ATTN_FACTOR;
  let s = sin(angle) * ATTN_FACTOR;
  let at = r * STRIDE + h * HEAD_DIM + i;
  let a = qkv[at];
  let b = qkv[at + half];
  qkv[at] = a * c - b * s;
  qkv[at + half] = b * c + a * s;
}
