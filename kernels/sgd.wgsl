// One SGD step on one parameter tensor, in place, as PyTorch's torch.optim.SGD (single-tensor path):
//   d = grad + weight_decay * param;
//   MOMENTUM: buf = d on the first step (FIRST: no buffer yet, no dampening), else momentum * buf + (1 - dampening) * d;
//             d = d + momentum * buf (NESTEROV) or d = buf;
//   param = param - lr * d.
// GATED: the step happens only where gate[0] != 0 (a training step's finite flag, engine/health.ts): a
// non-finite step is skipped on the GPU, with no readback to decide it.
// Bindings: param (read_write), grad (read), buf (read_write; the momentum buffer, any buffer when !MOMENTUM),
// gate (read; any buffer when !GATED), params {n, first, lr, momentum, one_minus_dampening, weight_decay}.
// One element per thread.
//!include lib/grid.wgsl
override MOMENTUM: bool = false;
override NESTEROV: bool = false;
override GATED: bool = false;
const WG: u32 = 256u;

struct Params { n: u32, first: u32, lr: f32, momentum: f32, one_minus_dampening: f32, weight_decay: f32 }

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (i >= params.n) { return; }
  if (GATED && gate[0] == 0.0) { return; }
  let p = param[i];
  var d = grad[i];
  // Skipped at 0 rather than multiplied, so an infinite parameter does not turn into NaN (0 * inf).
  if (params.weight_decay != 0.0) { d = d + params.weight_decay * p; }
  if (MOMENTUM) {
    var b = d;
    if (params.first == 0u) { b = buf[i] * params.momentum + params.one_minus_dampening * d; }
    buf[i] = b;
    if (NESTEROV) { d = d + params.momentum * b; } else { d = b; }
  }
  param[i] = p - params.lr * d;
}
