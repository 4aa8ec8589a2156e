// kv_seal.wgsl: quantizes ("seals") an f16 KV block of one layer into a block of another dtype.
// Compiled after kv_decode.wgsl (its layout helpers); oracle: tests/reference/kv_codec.ts,
// whose f32 arithmetic this follows operation by operation.
//
// Bindings: 0 kv_pool (one layer's pool, read_write), 1 seal (uniform, one slot per seal).
// Dispatch per seal, in order: seal_params over the block's groups, then seal_codes over its
// code words (codes of 3 bits straddle words, so each invocation owns whole output words and
// reads the scales that seal_params wrote). Seals run one after another, so a block freed by one
// seal may be the destination of the next.

override NUM_KV_HEADS: u32;
override BLOCK_SIZE: u32;
override HEAD_DIM: u32;
override WORKGROUP_SIZE: u32 = 64u;

const KIND_FP8: u32 = 1u;
const KIND_VEC: u32 = 3u;
const KIND_SYM: u32 = 5u;
const KIND_ZP: u32 = 6u;

struct Seal {
  src_word: u32,
  dst_word: u32,
  // family code (KV_FAMILY_CODES): 1 = fp8 (e4m3), 2 = asymmetric int of `bits` bits grouped
  // KIVI-style, 3 = asymmetric int of `bits` bits, one group per head vector, 5 = symmetric
  // int of `bits` bits, one scale per head vector, 6 = int of `bits` bits with an integer zero
  // point, one scale and zero point per head vector
  kind: u32,
  // bits of a K code, and of a V code (v_bits: fewer than bits only for vec)
  bits: u32,
  // tokens written in the source block; later slots hold stale memory and are ignored
  tokens: u32,
  v_bits: u32,
}

@group(0) @binding(0) var<storage, read_write> kv_pool: array<u32>;
@group(0) @binding(1) var<uniform> seal: Seal;

// Element i of the source f16 block (V elements follow the K ones).
fn src_value(i: u32) -> f32 {
  return unpack2x16float(kv_pool[seal.src_word + (i >> 1u)])[i & 1u];
}

// f16 bits of x rounded to nearest even, by hand: pack2x16float's rounding is not specified.
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu) - 112; // rebias 127 -> 15
  let m = b & 0x7fffffu;
  if (e >= 31) {
    return sign | 0x7c00u;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    let full = m | 0x800000u;
    let shift = u32(14 - e);
    let h = full >> shift;
    let rem = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    return sign | (h + select(0u, 1u, rem > half || (rem == half && (h & 1u) == 1u)));
  }
  let h = (u32(e) << 10u) | (m >> 13u);
  let rem = m & 0x1fffu;
  return sign | (h + select(0u, 1u, rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)));
}

fn f16_value(h: u32) -> f32 {
  return unpack2x16float(h).x;
}

// The smallest f16 at or above x >= 0.
fn f16_bits_up(x: f32) -> u32 {
  let h = f16_bits(x);
  return select(h, h + 1u, f16_value(h) < x);
}

// OCP e4m3 code of x: saturating, round to nearest even (mirrors e4m3Encode in the oracle).
fn e4m3_encode(x: f32) -> u32 {
  let sign = select(0u, 0x80u, x < 0.0);
  let a = min(abs(x), 448.0);
  if (a < 0.015625) {
    return sign | u32(round(a * 512.0));
  }
  let b = bitcast<u32>(a);
  let rounded = b + 0x7ffffu + ((b >> 20u) & 1u);
  return sign | ((rounded >> 20u) - (120u << 3u));
}

fn int_code(x: f32, param: u32, bits: u32) -> u32 {
  let scale = f16_value(param & 0xffffu);
  let mn = f16_value(param >> 16u);
  if (scale == 0.0) {
    return 0u;
  }
  let q = floor((x - mn) / scale + 0.5);
  return u32(clamp(q, 0.0, f32((1u << bits) - 1u)));
}

// (scale, min) of a group as one word; the minimum is exact (inputs are f16) and the scale is
// rounded up so that min + (2^b - 1) * scale still reaches the maximum.
fn int_param(lo: f32, hi: f32, bits: u32) -> u32 {
  let scale = f16_bits_up((hi - lo) / f32((1u << bits) - 1u));
  return scale | (f16_bits(lo) << 16u);
}

// pass 1: one invocation per group

@compute @workgroup_size(WORKGROUP_SIZE)
fn seal_params(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (seal.kind == KIND_FP8) {
    fp8_params(gid.x);
  } else if (seal.kind == KIND_VEC) {
    vec_params(gid.x);
  } else if (seal.kind == KIND_SYM) {
    sym_params(gid.x);
  } else if (seal.kind == KIND_ZP) {
    zp_params(gid.x);
  } else {
    int_params(gid.x);
  }
}

fn fp8_params(h: u32) {
  if (h >= NUM_KV_HEADS) {
    return;
  }
  var amax = vec2<f32>(0.0);
  for (var t = 0u; t < seal.tokens; t++) {
    for (var d = 0u; d < HEAD_DIM; d++) {
      let i = kv_at(h, t, d);
      amax = max(amax, abs(vec2<f32>(src_value(i), src_value(kv_elems() + i))));
    }
  }
  let k = f16_bits_up(amax.x / 448.0);
  let v = f16_bits_up(amax.y / 448.0);
  kv_pool[seal.dst_word + 2u * kv_fp8_code_words() + h] = k | (v << 16u);
}

fn int_params(g: u32) {
  let num_k = NUM_KV_HEADS * HEAD_DIM;
  let dst = seal.dst_word;
  if (g < num_k) {
    // K: channel d of head h across the block's tokens
    let h = g / HEAD_DIM;
    let d = g % HEAD_DIM;
    var lo = 3.4e38;
    var hi = -3.4e38;
    for (var t = 0u; t < seal.tokens; t++) {
      let x = src_value(kv_at(h, t, d));
      lo = min(lo, x);
      hi = max(hi, x);
    }
    let param = int_param(lo, hi, seal.bits);
    kv_pool[dst + kv_int_k_params(seal.bits) + g] = select(0u, param, seal.tokens > 0u);
    return;
  }
  let v = g - num_k;
  let groups = kv_v_groups_per_token();
  if (v >= NUM_KV_HEADS * BLOCK_SIZE * groups) {
    return;
  }
  // V: a group of channels of token t of head h
  let t = (v / groups) % BLOCK_SIZE;
  let h = v / (groups * BLOCK_SIZE);
  let d0 = (v % groups) * kv_v_group();
  var lo = 3.4e38;
  var hi = -3.4e38;
  for (var d = d0; d < min(d0 + kv_v_group(), HEAD_DIM); d++) {
    let x = src_value(kv_elems() + kv_at(h, t, d));
    lo = min(lo, x);
    hi = max(hi, x);
  }
  let param = int_param(lo, hi, seal.bits);
  kv_pool[dst + kv_int_v_params(seal.bits) + v] = select(0u, param, t < seal.tokens);
}

// vec: group g < H*B is K vector (h, t) = (g / B, g % B), then the V vectors
fn vec_params(g: u32) {
  let vectors = NUM_KV_HEADS * BLOCK_SIZE;
  if (g >= 2u * vectors) {
    return;
  }
  let is_v = g >= vectors;
  let hv = g % vectors;
  let h = hv / BLOCK_SIZE;
  let t = hv % BLOCK_SIZE;
  let base = select(0u, kv_elems(), is_v);
  var lo = 3.4e38;
  var hi = -3.4e38;
  for (var d = 0u; d < HEAD_DIM; d++) {
    let x = src_value(base + kv_at(h, t, d));
    lo = min(lo, x);
    hi = max(hi, x);
  }
  let param = int_param(lo, hi, select(seal.bits, seal.v_bits, is_v));
  kv_pool[seal.dst_word + kv_vec_k_params(seal.bits, seal.v_bits) + g] =
    select(0u, param, t < seal.tokens);
}

// sym: group g = (h, t) = (g / B, g % B), the K and V vectors of one token; each scale is
// rounded up so that the largest magnitude stays within (2^b - 1) / 2 levels of 0
fn sym_params(g: u32) {
  if (g >= NUM_KV_HEADS * BLOCK_SIZE) {
    return;
  }
  let h = g / BLOCK_SIZE;
  let t = g % BLOCK_SIZE;
  var amax = vec2<f32>(0.0);
  for (var d = 0u; d < HEAD_DIM; d++) {
    let i = kv_at(h, t, d);
    amax = max(amax, abs(vec2<f32>(src_value(i), src_value(kv_elems() + i))));
  }
  let half = kv_sym_half(seal.bits);
  let param = f16_bits_up(amax.x / half) | (f16_bits_up(amax.y / half) << 16u);
  kv_pool[seal.dst_word + kv_sym_params(seal.bits) + g] = select(0u, param, t < seal.tokens);
}

// zp: group g covers head vector pairs (rows h * B + t) 4g .. 4g + 3, whose zero points share
// one word. Each vector's range is widened to hold 0, its scale rounded up as int_param's, and
// its zero point is the level nearest 0: floor(-lo / scale + 0.5), within [0, 2^b - 1].
fn zp_params(g: u32) {
  let rows = NUM_KV_HEADS * BLOCK_SIZE;
  if (4u * g >= rows) {
    return;
  }
  let top = f32((1u << seal.bits) - 1u);
  var points = 0u;
  for (var j = 0u; j < 4u; j++) {
    let row = 4u * g + j;
    if (row >= rows) {
      break;
    }
    let t = row % BLOCK_SIZE;
    var lo = vec2<f32>(0.0);
    var hi = vec2<f32>(0.0);
    for (var d = 0u; d < HEAD_DIM; d++) {
      let i = kv_at(row / BLOCK_SIZE, t, d);
      let x = vec2<f32>(src_value(i), src_value(kv_elems() + i));
      lo = min(lo, x);
      hi = max(hi, x);
    }
    let sk = f16_bits_up((hi.x - lo.x) / top);
    let sv = f16_bits_up((hi.y - lo.y) / top);
    let zk = zp_point(lo.x, f16_value(sk), top);
    let zv = zp_point(lo.y, f16_value(sv), top);
    let valid = t < seal.tokens;
    kv_pool[seal.dst_word + kv_sym_params(seal.bits) + row] = select(0u, sk | (sv << 16u), valid);
    points = points | select(0u, (zk | (zv << 4u)) << (8u * j), valid);
  }
  kv_pool[seal.dst_word + kv_sym_params(seal.bits) + rows + g] = points;
}

fn zp_point(lo: f32, scale: f32, top: f32) -> u32 {
  if (scale == 0.0) {
    return 0u;
  }
  return u32(clamp(floor(-lo / scale + 0.5), 0.0, top));
}

// The b-bit code of x around a zero point: the nearest level (code - point) * scale (sym's point
// is (2^b - 1) / 2, so point + 0.5 is 2^(b-1); zp's an integer).
fn point_code(x: f32, scale: f32, point: f32, bits: u32) -> u32 {
  if (scale == 0.0) {
    return 0u;
  }
  let q = floor(x / scale + (point + 0.5));
  return u32(clamp(q, 0.0, f32((1u << bits) - 1u)));
}

// pass 2: one invocation per output code word (K words, then V words; int's K and V words are
// as many, vec's V ones fewer when v_bits < bits)

@compute @workgroup_size(WORKGROUP_SIZE)
fn seal_codes(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (seal.kind == KIND_FP8) {
    fp8_codes(gid.x);
  } else {
    int_codes(gid.x);
  }
}

fn fp8_codes(g: u32) {
  let words = kv_fp8_code_words();
  if (g >= 2u * words) {
    return;
  }
  let is_v = g >= words;
  let w = g % words;
  var out = 0u;
  for (var j = 0u; j < 4u; j++) {
    let i = 4u * w + j;
    let t = (i / HEAD_DIM) % BLOCK_SIZE;
    if (i < kv_elems() && t < seal.tokens) {
      let h = i / (HEAD_DIM * BLOCK_SIZE);
      let scales = kv_fp8_scales(seal.dst_word, h);
      let scale = select(scales.x, scales.y, is_v);
      let x = src_value(select(0u, kv_elems(), is_v) + i);
      let code = select(e4m3_encode(x / scale), 0u, scale == 0.0);
      out = out | (code << (8u * j));
    }
  }
  kv_pool[seal.dst_word + g] = out;
}

fn int_codes(g: u32) {
  let k_words = kv_int_code_words(seal.bits);
  if (g >= k_words + kv_int_code_words(seal.v_bits)) {
    return;
  }
  let is_v = g >= k_words;
  let bits = select(seal.bits, seal.v_bits, is_v);
  let w = select(g, g - k_words, is_v);
  let first = (32u * w) / bits;
  let last = min((32u * w + 31u) / bits, kv_elems() - 1u);
  var out = 0u;
  for (var idx = first; idx <= last; idx++) {
    var h: u32;
    var t: u32;
    var d: u32;
    var param: u32;
    if (seal.kind == KIND_VEC || seal.kind == KIND_SYM || seal.kind == KIND_ZP) {
      d = idx % HEAD_DIM;
      t = (idx / HEAD_DIM) % BLOCK_SIZE;
      h = idx / (HEAD_DIM * BLOCK_SIZE);
      var params = select(
        kv_vec_k_params(seal.bits, seal.v_bits),
        kv_vec_v_params(seal.bits, seal.v_bits),
        is_v,
      );
      if (seal.kind == KIND_SYM || seal.kind == KIND_ZP) {
        params = kv_sym_params(seal.bits);
      }
      param = kv_pool[seal.dst_word + params + h * BLOCK_SIZE + t];
    } else if (is_v) {
      d = idx % HEAD_DIM;
      t = (idx / HEAD_DIM) % BLOCK_SIZE;
      h = idx / (HEAD_DIM * BLOCK_SIZE);
      param = kv_pool[seal.dst_word + kv_int_v_params(bits) + kv_int_v_param_index(h, t, d)];
    } else {
      t = idx % BLOCK_SIZE;
      d = (idx / BLOCK_SIZE) % HEAD_DIM;
      h = idx / (BLOCK_SIZE * HEAD_DIM);
      param = kv_pool[seal.dst_word + kv_int_k_params(bits) + h * HEAD_DIM + d];
    }
    if (t < seal.tokens) {
      let x = src_value(select(0u, kv_elems(), is_v) + kv_at(h, t, d));
      var code: u32;
      if (seal.kind == KIND_SYM || seal.kind == KIND_ZP) {
        var point = kv_sym_half(bits);
        if (seal.kind == KIND_ZP) {
          point = kv_zp_point(seal.dst_word, bits, h, t, is_v);
        }
        code = point_code(x, unpack2x16float(param)[select(0u, 1u, is_v)], point, bits);
      } else {
        code = int_code(x, param, bits);
      }
      // the first code may start in the previous word, the last may run into the next
      let shift = i32(idx * bits) - i32(32u * w);
      out = out | select(code >> u32(-shift), code << u32(shift), shift >= 0);
    }
  }
  kv_pool[seal.dst_word + g] = out;
}
