// Training-step health on the GPU, so that a NaN is caught without a readback per step (engine/health.ts).
// MODE 0 (count): counts[slot] += the number of non-finite elements (NaN, +-inf, by their bits: WGSL lets a
//   compiler assume no NaN, and lavapipe folds `v != v`) of x [n]; one element per thread.
// MODE 1 (judge), one thread, after the counts of a step (slot 0 the input batch, 1 the loss, 2 the gradient
//   norm): ok = every count is 0. state = [healthy, first bad step + 1, what (bit 0 input, 1 loss, 2 gradients),
//   steps skipped]. STOP: once a step is not ok, healthy = 0 for good and every later gate is 0 (the weights stay
//   those of the last good step). SKIP: the gate of a bad step is 0, and training goes on. The counts are
//   cleared for the next step.
// Bindings: x (read, f32), counts (read_write, atomic u32 [4]), state (read_write, u32 [4]), gate (read_write,
//   f32 [1]), params {n, slot, step}.
//!include lib/grid.wgsl
override MODE: u32 = 0u;
override STOP: bool = true;
const WG: u32 = 256u;

struct Params { n: u32, slot: u32, step: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> counts: array<atomic<u32>, 4>;
@group(0) @binding(2) var<storage, read_write> state: array<u32, 4>;
@group(0) @binding(3) var<storage, read_write> gate: array<f32, 1>;
@group(0) @binding(4) var<uniform> params: Params;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg) * WG + lid.x;
  if (MODE == 0u) {
    if (i < params.n && !finite(x[i])) { atomicAdd(&counts[params.slot], 1u); }
    return;
  }
  if (i != 0u) { return; }
  var what = 0u;
  for (var s = 0u; s < 3u; s++) {
    if (atomicLoad(&counts[s]) != 0u) { what = what | (1u << s); }
    atomicStore(&counts[s], 0u);
  }
  let ok = what == 0u;
  if (!ok) {
    if (state[1] == 0u) { state[1] = params.step + 1u; state[2] = what; }
    if (STOP) { state[0] = 0u; } else { state[3] = state[3] + 1u; }
  }
  gate[0] = select(0.0, 1.0, ok && state[0] == 1u);
}
