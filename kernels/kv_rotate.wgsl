// The engine's KV rotation (src/kv/rotation.ts), in place on head vectors of row-major rows:
//   forward (INVERSE = false): x <- H (s * x) / sqrt(HEAD_DIM)   (q, k and v after RoPE)
//   inverse (INVERSE = true):  x <- s * (H x) / sqrt(HEAD_DIM)   (the attention output)
// H is the Walsh-Hadamard matrix, s the +-1 signs. Head vector h of row r is
// data[r * STRIDE + h * HEAD_DIM ..][HEAD_DIM], for h < HEADS. Oracle: rotateRows / unrotateRows
// in tests/reference/hadamard.ts (the same butterflies in the same order).
// One invocation owns one head vector: HEAD_DIM log2(HEAD_DIM) / 2 butterflies, far from any
// loop bound, and no workgroup memory or barriers.
// bindings: 0 data array<f32> read_write, 1 signs array<f32> [HEAD_DIM], 2 count uniform (n = rows)
// dispatch: grid(ceil(rows * HEADS / WG)) with grid(g) = (min(g, GRID_X), ceil(g / GRID_X));
// invocation i owns head i % HEADS of row i / HEADS
override WG: u32 = 64u;
override HEAD_DIM: u32;
override STRIDE: u32;
override HEADS: u32;
override INVERSE: bool = false;
const GRID_X: u32 = 32768u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@group(0) @binding(1) var<storage, read> signs: array<f32>;
@group(0) @binding(2) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * GRID_X * WG;
  let h = i % HEADS;
  let r = i / HEADS;
  if (r >= count.n) { return; }
  let base = r * STRIDE + h * HEAD_DIM;
  if (!INVERSE) {
    for (var i = 0u; i < HEAD_DIM; i++) {
      data[base + i] = data[base + i] * signs[i];
    }
  }
  for (var len = 1u; len < HEAD_DIM; len = len * 2u) {
    for (var i = 0u; i < HEAD_DIM; i = i + 2u * len) {
      for (var j = i; j < i + len; j++) {
        let a = data[base + j];
        let b = data[base + j + len];
        data[base + j] = a + b;
        data[base + j + len] = a - b;
      }
    }
  }
  let norm = inverseSqrt(f32(HEAD_DIM));
  for (var i = 0u; i < HEAD_DIM; i++) {
    data[base + i] = data[base + i] * norm * select(1.0, signs[i], INVERSE);
  }
}
