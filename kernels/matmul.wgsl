// Matmul with f16 weights and f32 activations and accumulation (torch Linear layout):
//   y[r][OUT_OFFSET + n] = sum_k x[r][k] * W[n][k]  (+ bias[OUT_OFFSET + n] when HAS_BIAS)
//                                                  (+ y[r][OUT_OFFSET + n] when ACCUMULATE)
// for n < N (the rows of this weight part; a row-split weight dispatches once per part) and
// r < count.n. K is a multiple of 4.
// bindings: 0 w array<vec2<u32>> [N][K / 4] (4 f16 per vec2, low half first)
//           1 x array<vec4<f32>> [rows][K / 4]
//           2 y array<f32> [rows][OUT_STRIDE]
//           3 bias array<f32> [OUT_STRIDE] (bound to a dummy when !HAS_BIAS)
//           4 count uniform (n = rows)
// Entry `main_rows` (software adapters, barrier-free): one thread per output n, RPT rows at once
//   so each weight is read once for them. dispatch: grid(ceil(N / WG)), z = ceil(rows / RPT).
// Entry `main_lanes` (GPUs): one workgroup per output n, lanes split K, tree reduction.
//   dispatch: grid(N), z = ceil(rows / RPT).
// grid(g) = (min(g, GRID_X), ceil(g / GRID_X)): the linear workgroup id is x + y * GRID_X.
override WG: u32 = 8u;
override K: u32;
override N: u32;
override OUT_STRIDE: u32;
override OUT_OFFSET: u32 = 0u;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
const RPT: u32 = 4u;
const GRID_X: u32 = 32768u;
const MAX_WG: u32 = 256u;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> w: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> count: Count;

var<workgroup> partial: array<array<f32, MAX_WG>, RPT>;

fn weights(i: u32) -> vec4<f32> {
  let p = w[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}

fn store(r: u32, n: u32, acc: f32) {
  let o = r * OUT_STRIDE + OUT_OFFSET + n;
  var v = acc;
  if (HAS_BIAS) { v += bias[OUT_OFFSET + n]; }
  if (ACCUMULATE) { v += y[o]; }
  y[o] = v;
}

// Dot products of weight row n with activation rows r0..r0+3 over k4 = start, start + stride, …
// (rows past the end read the last row again, so the loop has no branch, and are not stored).
fn row_dots(n: u32, r0: u32, start: u32, stride: u32) -> vec4<f32> {
  let k4 = K / 4u;
  let last = count.n - 1u;
  let x0 = min(r0, last) * k4;
  let x1 = min(r0 + 1u, last) * k4;
  let x2 = min(r0 + 2u, last) * k4;
  let x3 = min(r0 + 3u, last) * k4;
  var acc = vec4<f32>(0.0);
  let wrow = n * k4;
  if (r0 + 1u == count.n) {
    // A lone row (every decode step): one dot product per weight, not four.
    for (var k = start; k < k4; k += stride) { acc.x += dot(weights(wrow + k), x[x0 + k]); }
  } else {
    for (var k = start; k < k4; k += stride) {
      let wv = weights(wrow + k);
      acc += vec4<f32>(dot(wv, x[x0 + k]), dot(wv, x[x1 + k]), dot(wv, x[x2 + k]), dot(wv, x[x3 + k]));
    }
  }
  return acc;
}

@compute @workgroup_size(WG)
fn main_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x + gid.y * GRID_X * WG;
  let r0 = gid.z * RPT;
  if (n >= N || r0 >= count.n) { return; }
  let acc = row_dots(n, r0, 0u, 1u);
  for (var i = 0u; i < RPT; i++) {
    if (r0 + i < count.n) { store(r0 + i, n, acc[i]); }
  }
}

@compute @workgroup_size(WG)
fn main_lanes(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let n = wid.x + wid.y * GRID_X;
  let r0 = wid.z * RPT;
  // n and r0 are uniform per workgroup, so returning keeps barriers in uniform control flow.
  if (n >= N || r0 >= count.n) { return; }
  let acc = row_dots(n, r0, lane, WG);
  for (var i = 0u; i < RPT; i++) { partial[i][lane] = acc[i]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      for (var i = 0u; i < RPT; i++) { partial[i][lane] += partial[i][lane + s]; }
    }
    workgroupBarrier();
  }
  if (lane < RPT && r0 + lane < count.n) { store(r0 + lane, n, partial[lane][0]); }
}
