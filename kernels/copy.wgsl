// Plain copy, the bandwidth yardstick the matmul is compared with: dst[i] = src[i].
// bindings: 0 src array<vec4<u32>>, 1 dst array<vec4<u32>>
// dispatch: grid(ceil(N / WG)) with grid(g) = (min(g, GRID_X), ceil(g / GRID_X)).
override WG: u32 = 8u;
override N: u32;
const GRID_X: u32 = 32768u;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * GRID_X * WG;
  if (i < N) { dst[i] = src[i]; }
}
