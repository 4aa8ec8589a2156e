// Stand-in for kv_decode.wgsl when no quantized KV dtype is registered: only f16 blocks exist,
// so these are never reached (the host refuses block tables with other dtypes).
fn kv_k_quant(word_off: u32, dtype: u32, kvh: u32, t: u32, d: u32) -> f32 { return 0.0; }
fn kv_v_quant(word_off: u32, dtype: u32, kvh: u32, t: u32, d: u32) -> f32 { return 0.0; }
