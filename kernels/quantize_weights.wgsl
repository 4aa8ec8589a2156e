// Quantizes an f16 weight matrix [N][K] (torch Linear layout) to BITS-bit integers, symmetric per
// group of GROUP inputs along K (the last group of a row may be shorter):
//   scale = f16(max |W[n][g]| / QMAX), q = clamp(round(W / scale), -QMAX, QMAX), QMAX = 2^(BITS-1)-1
// (q = 0 where scale is 0), stored as u = q + 2^(BITS-1) at the bit positions the matmul's dtype
// files (matmul_w_int8/int4.wgsl) read: input j of each 4-input chunk at bit
// BITS * (j / 2) + 16 * (j % 2), chunk h of a word at bit 2 * BITS * h.
// bindings: 0 w array<u32> [N][K / 2] (f16 pairs), 1 q array<u32> [N][ceil(K * BITS / 32)],
//           2 scales array<u32> [N][SCALE_WORDS] (f16 pairs, group 2j in the low half)
// One thread per (row, pair of groups): it writes one scale word and its groups' q words, so
// no two threads share a word (GROUP is a multiple of 32 / BITS).
// dispatch: grid(ceil(N * SCALE_WORDS / WG)) with grid(g) = (min(g, GRID_X), ceil(g / GRID_X)).
override WG: u32 = 8u;
override BITS: u32;
override GROUP: u32;
override K: u32;
override N: u32;
override SCALE_WORDS: u32;
const GRID_X: u32 = 32768u;

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> scales: array<u32>;

fn weight(n: u32, k: u32) -> f32 {
  return unpack2x16float(w[n * (K / 2u) + k / 2u])[k % 2u];
}

// The f16-rounded scale of the group starting at k0 (0 for an empty or all-zero group).
fn group_scale(n: u32, k0: u32) -> f32 {
  let qmax = f32((1u << (BITS - 1u)) - 1u);
  var m = 0.0;
  for (var k = k0; k < min(k0 + GROUP, K); k++) { m = max(m, abs(weight(n, k))); }
  return unpack2x16float(pack2x16float(vec2<f32>(m / qmax, 0.0))).x;
}

fn quantize_group(n: u32, k0: u32, scale: f32) {
  let qmax = f32((1u << (BITS - 1u)) - 1u);
  let per_word = 32u / BITS;
  let row_words = (K * BITS + 31u) / 32u;
  for (var k = k0; k < min(k0 + GROUP, K); k += per_word) {
    var word = 0u;
    for (var i = 0u; i < per_word; i++) {
      var v = 0;
      if (k + i < K && scale > 0.0) {
        v = i32(clamp(round(weight(n, k + i) / scale), -qmax, qmax));
      }
      let j = i % 4u;
      let bit = 2u * BITS * (i / 4u) + BITS * (j / 2u) + 16u * (j % 2u);
      word = insertBits(word, u32(v + (1 << (BITS - 1u))), bit, BITS);
    }
    q[n * row_words + k / per_word] = word;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * GRID_X * WG;
  if (t >= N * SCALE_WORDS) { return; }
  let n = t / SCALE_WORDS;
  let j = t % SCALE_WORDS;
  let k0 = 2u * j * GROUP;
  let s0 = group_scale(n, k0);
  let s1 = group_scale(n, k0 + GROUP);
  quantize_group(n, k0, s0);
  quantize_group(n, k0 + GROUP, s1);
  scales[n * SCALE_WORDS + j] = pack2x16float(vec2<f32>(s0, s1));
}
