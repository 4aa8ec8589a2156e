// Embedding gather for the rows of a step, from one row-range part of the f16 table.
//   out[r][h] = embed[tok(r) - ROW_START][h], only for tokens in [ROW_START, ROW_START + NUM_ROWS)
//   tok(r) = rows[r].token, or last_token[rows[r].slot] when the row's token is NULL_TOKEN
//   (the token this slot sampled in an earlier step, never read back to the host).
// bindings: 0 embed      array<u32>  [NUM_ROWS][HIDDEN / 2] f16 pairs (low half = even element)
//           1 rows       array<u32>  [rows][ROW_WORDS] (word 0 token, word 3 slot)
//           2 last_token array<u32>  [slots]
//           3 out        array<f32>  [rows][HIDDEN]
//           4 count      uniform     n = rows in the step
// dispatch: (ceil(HIDDEN / 2 / WG), rows); one dispatch per part of a row-split table.
override WG: u32 = 8u;
override HIDDEN: u32;
override ROW_START: u32 = 0u;
override NUM_ROWS: u32;
const ROW_WORDS: u32 = 8u;
const NULL_TOKEN: u32 = 0xffffffffu;

struct Count { n: u32 }

@group(0) @binding(0) var<storage, read> embed: array<u32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> last_token: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> count: Count;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  let r = gid.y;
  if (pair >= HIDDEN / 2u || r >= count.n) { return; }
  var tok = rows[r * ROW_WORDS];
  if (tok == NULL_TOKEN) { tok = last_token[rows[r * ROW_WORDS + 3u]]; }
  if (tok < ROW_START || tok >= ROW_START + NUM_ROWS) { return; }
  let v = unpack2x16float(embed[(tok - ROW_START) * (HIDDEN / 2u) + pair]);
  out[r * HIDDEN + 2u * pair] = v.x;
  out[r * HIDDEN + 2u * pair + 1u] = v.y;
}
