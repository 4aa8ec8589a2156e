// int8 weights of the matmul (kernels/matmul.wgsl), symmetric per group of GROUP inputs:
//   W[n][k] = q[n][k] * scale[n][k / GROUP], q in [-127, 127] stored as u = q + 128.
// bindings: 0 q array<u32> [N][K / 4]: inputs 4c..4c+3 in word c at bits 0, 16, 8, 24 (so one
//           mask yields two of them as the mantissas of an f16 pair: 1024 + u, exact),
//           5 scales array<u32> [N][SCALE_WORDS] (f16 pairs, group 2j in the low half)
override SCALE_WORDS: u32;
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

fn wscale(n: u32, g: u32) -> f32 {
  return unpack2x16float(scales[n * SCALE_WORDS + g / 2u])[g % 2u];
}

fn wchunk(n: u32, c: u32) -> vec4<f32> {
  let q = w[n * (K / 4u) + c];
  let lo = unpack2x16float((q & 0x00ff00ffu) | 0x64006400u);
  let hi = unpack2x16float(((q >> 8u) & 0x00ff00ffu) | 0x64006400u);
  return vec4<f32>(lo, hi) - 1152.0;
}

fn wchunk2(n: u32, c: u32) -> array<vec4<f32>, 2> {
  return array<vec4<f32>, 2>(wchunk(n, c), wchunk(n, c + 1u));
}
