// int4 weights of the matmul (kernels/matmul.wgsl), symmetric per group of GROUP inputs:
//   W[n][k] = q[n][k] * scale[n][k / GROUP], q in [-7, 7] stored as u = q + 8.
// bindings: 0 q array<u32> [N][ceil(K / 8)]: inputs 8i..8i+7 in word i, input 8i + 4h + j at
//           bit 8h + 4 (j / 2) + 16 (j % 2) (so one mask yields two of them as the mantissas of
//           an f16 pair: 1024 + u, exact), 5 scales array<u32> [N][SCALE_WORDS] (f16 pairs,
//           group 2j in the low half)
override SCALE_WORDS: u32;
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

fn wscale(n: u32, g: u32) -> f32 {
  return unpack2x16float(scales[n * SCALE_WORDS + g / 2u])[g % 2u];
}

fn decode(q: u32) -> vec4<f32> {
  let lo = unpack2x16float((q & 0x000f000fu) | 0x64006400u);
  let hi = unpack2x16float(((q >> 4u) & 0x000f000fu) | 0x64006400u);
  return vec4<f32>(lo, hi) - 1032.0;
}

fn wchunk(n: u32, c: u32) -> vec4<f32> {
  return decode(w[n * ((K + 7u) / 8u) + c / 2u] >> ((c % 2u) * 8u));
}

// One word: chunks c and c + 1 (c even).
fn wchunk2(n: u32, c: u32) -> array<vec4<f32>, 2> {
  let q = w[n * ((K + 7u) / 8u) + c / 2u];
  return array<vec4<f32>, 2>(decode(q), decode(q >> 8u));
}
