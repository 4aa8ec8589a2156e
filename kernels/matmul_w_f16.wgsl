// f16 weights of the matmul (kernels/matmul.wgsl): binding 0 w array<vec2<u32>> [N][K / 4],
// 4 f16 per vec2, low half first. No scales (GROUP 0: one group of scale 1 per row).
@group(0) @binding(0) var<storage, read> w: array<vec2<u32>>;

fn wchunk(n: u32, c: u32) -> vec4<f32> {
  let p = w[n * (K / 4u) + c];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}

fn wscale(n: u32, g: u32) -> f32 {
  return 1.0;
}

fn wchunk2(n: u32, c: u32) -> array<vec4<f32>, 2> {
  return array<vec4<f32>, 2>(wchunk(n, c), wchunk(n, c + 1u));
}
