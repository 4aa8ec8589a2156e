// RMSNorm in place over vectors inside a larger row (qwen3's per-head q/k norm in the qkv buffer):
//   vector v = (row v / GROUPS, group v % GROUPS) starts at row * STRIDE + BASE + group * DIM
//   x[vec] = x[vec] / sqrt(mean(x[vec]^2) + EPS) * w
// bindings: 0 x array<f32> read_write, 1 w array<f32> [DIM], 2 count uniform (n = rows * GROUPS)
// dispatch: (rows * GROUPS, 1, 1); WG is a power of two <= 256.
override WG: u32 = 8u;
override DIM: u32;
override EPS: f32 = 1e-6;
override GROUPS: u32 = 1u;
override STRIDE: u32;
override BASE: u32 = 0u;
const MAX_WG: u32 = 256u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<uniform> count: Count;

var<workgroup> partial: array<f32, MAX_WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let v = wid.x;
  if (v >= count.n) { return; }
  let base = (v / GROUPS) * STRIDE + BASE + (v % GROUPS) * DIM;
  var ss = 0.0;
  for (var i = lane; i < DIM; i += WG) { ss += x[base + i] * x[base + i]; }
  partial[lane] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { partial[lane] += partial[lane + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(DIM) + EPS);
  // Each lane rewrites only the elements it read, so in place is safe.
  for (var i = lane; i < DIM; i += WG) { x[base + i] = x[base + i] * scale * w[i]; }
}
