// RMSNorm: y = x / sqrt(mean(x^2) + EPS) * w, one workgroup per vector of DIM elements.
//   out[r][:] = norm(x[src(r)][:]), src(r) = gather[r] when GATHER else r
// bindings: 0 x array<f32> [*][DIM], 1 w array<f32> [DIM], 2 out array<f32> [rows][DIM],
//           3 gather array<u32> [rows], 4 count uniform (n = vectors)
// dispatch: (vectors, 1, 1); WG is a power of two <= 256. The in-place per-head variant for
// qwen3's q/k norm is rmsnorm_inplace.wgsl.
override WG: u32 = 8u;
override DIM: u32;
override EPS: f32 = 1e-6;
override GATHER: bool = false;
const MAX_WG: u32 = 256u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> gather: array<u32>;
@group(0) @binding(4) var<uniform> count: Count;

var<workgroup> partial: array<f32, MAX_WG>;

// Sum of `v` over the workgroup (tree; every lane gets the total).
fn workgroup_sum(lane: u32, v: f32) -> f32 {
  partial[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) { partial[lane] += partial[lane + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let r = wid.x;
  // count.n is uniform, so the early return keeps barriers in uniform control flow.
  if (r >= count.n) { return; }
  var src = r;
  if (GATHER) { src = gather[r]; }
  let base = src * DIM;
  var ss = 0.0;
  for (var i = lane; i < DIM; i += WG) { ss += x[base + i] * x[base + i]; }
  let scale = inverseSqrt(workgroup_sum(lane, ss) / f32(DIM) + EPS);
  for (var i = lane; i < DIM; i += WG) { out[r * DIM + i] = x[base + i] * scale * w[i]; }
}
