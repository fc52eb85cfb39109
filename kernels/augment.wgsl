// Random crop with zero padding, then horizontal flip, per example (torchvision's RandomCrop(size, padding)
// followed by RandomHorizontalFlip, the crop as large as the image):
//   y[b, c, i, j] = x[b, c, i + dy - pad, jj + dx - pad] (0 outside the image), jj = flip ? W - 1 - j : j,
// with example b's draws packed in one integer code[b] = dy + span * (dx + span * flip), span = 2 pad + 1.
// Pixels are moved, never computed: the result is exact.
// Layout: x, y [B, C, H, W] f32 row-major; code [B] i32. Bindings: x, code (read), y (write),
// params {n (= B C H W), chw, h, w, pad, span}. One output element per thread; 1-D grid folded into 2-D.
//!include lib/grid.wgsl
const WG: u32 = 256u;

struct Params { n: u32, chw: u32, h: u32, w: u32, pad: u32, span: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> code: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = flat_id(wid, nwg) * WG + lid.x;
  if (o >= params.n) { return; }
  let b = o / params.chw;
  let plane = o / (params.h * params.w);
  let within = o % (params.h * params.w);
  let i = within / params.w;
  let j = within % params.w;
  let k = u32(code[b]);
  let dy = k % params.span;
  let dx = (k / params.span) % params.span;
  let flip = k / (params.span * params.span);
  let jj = select(j, params.w - 1u - j, flip == 1u);
  // Source coordinates in the padded image; below pad or past pad + size is padding (u32 wraps below 0).
  let si = i + dy - params.pad;
  let sj = jj + dx - params.pad;
  var v = 0.0;
  if (i + dy >= params.pad && si < params.h && jj + dx >= params.pad && sj < params.w) {
    v = x[(plane * params.h + si) * params.w + sj];
  }
  y[o] = v;
}
