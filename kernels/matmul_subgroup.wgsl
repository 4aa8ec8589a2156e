// Entry `main_subgroup` of the matmul (adapters with the `subgroups` feature only): one
// workgroup per output and RPT rows, WG lanes split K, each subgroup adds its lanes' sums with
// subgroupAdd, and the subgroup sums meet in workgroup memory (any subgroup size dividing WG).
// Concatenated first (the enable directive must lead the module), then the dtype file, then
// matmul.wgsl. dispatch: grid(N), z = ceil(rows / RPT).
enable subgroups;

@compute @workgroup_size(WG)
fn main_subgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
) {
  let n = wid.x + wid.y * GRID_X;
  let r0 = wid.z * RPT;
  if (n >= N || r0 >= count.n) { return; }
  let total = subgroupAdd(row_dots(n, r0, lane, WG));
  if (sg_lane == 0u) {
    for (var i = 0u; i < RPT; i++) { partial[i][lane / sg_size] = total[i]; }
  }
  workgroupBarrier();
  if (lane < RPT && r0 + lane < count.n) {
    var s = 0.0;
    for (var j = 0u; j < WG / sg_size; j++) { s += partial[lane][j]; }
    store(r0 + lane, n, s);
  }
}
