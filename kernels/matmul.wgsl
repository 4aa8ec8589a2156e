// Matmul with f32 activations and accumulation over a weight in one of the weight dtypes (torch
// Linear layout); the dtype's file (matmul_w_<dtype>.wgsl, concatenated before this one) binds the
// weight and defines wchunk(n, c): weights 4c..4c+3 of row n as f32 before their group's scale,
// wchunk2(n, c): chunks c and c + 1 for an even c, and wscale(n, g): the scale of group g (GROUP
// inputs; 0 means one group per row, scale 1).
//   y[r][OUT_OFFSET + n] = sum_k x[r][k] * W[n][k]  (+ bias[OUT_OFFSET + n] when HAS_BIAS)
//                                                  (+ y[r][OUT_OFFSET + n] when ACCUMULATE)
// for n < N (the rows of this weight part; a row-split weight dispatches once per part) and
// r < count.n. K is a multiple of 4.
// bindings: 0 w (the dtype file's), 1 x array<vec4<f32>> [rows][K / 4], 2 y array<f32>
//           [rows][OUT_STRIDE], 3 bias array<f32> [OUT_STRIDE] (a dummy when !HAS_BIAS),
//           4 count uniform (n = rows), 5 scales (quantized dtypes only)
// Entry `main_rows` (software adapters, barrier-free): one thread per output n, RPT rows at once
//   so each weight is read once for them. dispatch: grid(ceil(N / WG)), z = ceil(rows / RPT).
// Entry `main_tile` (GPUs): one workgroup per tile of WG / LANES outputs x RPT rows; LANES
//   lanes split K for each output and reduce in workgroup memory.
//   dispatch: grid(ceil(N / (WG / LANES))), z = ceil(rows / RPT).
// grid(g) = (min(g, GRID_X), ceil(g / GRID_X)): the linear workgroup id is x + y * GRID_X.
override WG: u32 = 8u;
override LANES: u32 = 16u;
override K: u32;
override N: u32;
override OUT_STRIDE: u32;
override OUT_OFFSET: u32 = 0u;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override GROUP: u32 = 0u;
const RPT: u32 = 4u;
const GRID_X: u32 = 32768u;
const MAX_WG: u32 = 256u;

struct Count { n: u32 }

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> count: Count;

var<workgroup> partial: array<array<f32, MAX_WG>, RPT>;

fn store(r: u32, n: u32, acc: f32) {
  let o = r * OUT_STRIDE + OUT_OFFSET + n;
  var v = acc;
  if (HAS_BIAS) { v += bias[OUT_OFFSET + n]; }
  if (ACCUMULATE) { v += y[o]; }
  y[o] = v;
}

// Chunks of 4 inputs per scale group.
fn group_chunks() -> u32 {
  return select(GROUP / 4u, K / 4u, GROUP == 0u);
}

// Dot products of weight row n with activation rows r0..r0+3 over the chunks c = start, start +
// stride, … of every group (rows past the end read the last row again, so the loop has no
// branch, and are not stored). Each group's sum is scaled once.
fn row_dots(n: u32, r0: u32, start: u32, stride: u32) -> vec4<f32> {
  let k4 = K / 4u;
  let last = count.n - 1u;
  let x0 = min(r0, last) * k4;
  let x1 = min(r0 + 1u, last) * k4;
  let x2 = min(r0 + 2u, last) * k4;
  let x3 = min(r0 + 3u, last) * k4;
  let cpg = group_chunks();
  var acc = vec4<f32>(0.0);
  let lone = r0 + 1u == count.n;
  for (var c0 = 0u; c0 < k4; c0 += cpg) {
    let end = min(c0 + cpg, k4);
    var a = vec4<f32>(0.0);
    if (lone && stride == 1u) {
      // A lone row (every decode step) in one thread: one dot product per weight, not four, and
      // two chunks per step (one int4 word; groups and rows hold an even count except a tail).
      var c = c0 + start;
      for (; c + 1u < end; c += 2u) {
        let wv = wchunk2(n, c);
        a.x += dot(wv[0], x[x0 + c]) + dot(wv[1], x[x0 + c + 1u]);
      }
      if (c < end) { a.x += dot(wchunk(n, c), x[x0 + c]); }
    } else if (lone) {
      for (var c = c0 + start; c < end; c += stride) { a.x += dot(wchunk(n, c), x[x0 + c]); }
    } else {
      for (var c = c0 + start; c < end; c += stride) {
        let wv = wchunk(n, c);
        a += vec4<f32>(dot(wv, x[x0 + c]), dot(wv, x[x1 + c]), dot(wv, x[x2 + c]), dot(wv, x[x3 + c]));
      }
    }
    acc += wscale(n, c0 / cpg) * a;
  }
  return acc;
}

@compute @workgroup_size(WG)
fn main_rows(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let n = gid.x + gid.y * GRID_X * WG;
  // From the workgroup id, not gid.z (the same value): the compiler then knows r0, and so every
  // activation address, is uniform, and loads x once per SIMD group instead of once per lane.
  let r0 = wid.z * RPT;
  if (n >= N || r0 >= count.n) { return; }
  let acc = row_dots(n, r0, 0u, 1u);
  for (var i = 0u; i < RPT; i++) {
    if (r0 + i < count.n) { store(r0 + i, n, acc[i]); }
  }
}

@compute @workgroup_size(WG)
fn main_tile(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let tile = wid.x + wid.y * GRID_X;
  let r0 = wid.z * RPT;
  // r0 is uniform per workgroup, so returning keeps barriers in uniform control flow.
  if (r0 >= count.n) { return; }
  let sub = lane % LANES;
  let n = tile * (WG / LANES) + lane / LANES;
  var acc = vec4<f32>(0.0);
  if (n < N) { acc = row_dots(n, r0, sub, LANES); }
  for (var i = 0u; i < RPT; i++) { partial[i][lane] = acc[i]; }
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s = s / 2u) {
    if (sub < s) {
      for (var i = 0u; i < RPT; i++) { partial[i][lane] += partial[i][lane + s]; }
    }
    workgroupBarrier();
  }
  if (n < N && sub < RPT && r0 + sub < count.n) { store(r0 + sub, n, partial[sub][lane - sub]); }
}
