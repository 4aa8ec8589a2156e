// SwiGLU of the fused gate_up projection: out[r][i] = silu(gu[r][i]) * gu[r][INTER + i],
// silu(g) = g / (1 + exp(-g)).
// bindings: 0 gu array<f32> [rows][2 * INTER], 1 out array<f32> [rows][INTER], 2 count uniform
// dispatch: (ceil(INTER / WG), rows)
override WG: u32 = 8u;
override INTER: u32;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let r = gid.y;
  if (i >= INTER || r >= count.n) { return; }
  let g = gu[r * 2u * INTER + i];
  out[r * INTER + i] = g / (1.0 + exp(-g)) * gu[r * 2u * INTER + INTER + i];
}
