// The acceptance step of one Square-attack query (Andriushchenko et al. 2020), per example n of a batch, from the
// logits z of its candidate:
//   m_n = max_{j != y_n} z_nj - z_n,y_n (the margin; 'cw' of training/attacks/objective.ts),
//   take_n = open_n != 0 and m_n > loss_n (strictly, as square.py's loss < loss_min on the negated margin),
//   best'_n = take_n ? cand_n : best_n,   loss'_n = take_n ? m_n : loss_n,   open'_n = 1 if open_n != 0 and loss'_n < 0, else 0.
// A label outside [0, K) never takes (the example keeps its point, margin and mask) and is reported through
// range_errors (lib/range_check.wgsl): the next read throws naming it.
// One workgroup per example: thread 0 reads the row's K logits and decides, the others wait at the barrier and
// then copy the example's F values.
// Layout: logits [N, K], labels i32 [N], cand, best, best_out [N, F], loss, open, loss_out, open_out [N].
// Bindings: logits, labels, cand, best, loss, open (read), best_out, loss_out, open_out (write),
// params {batch, classes, features}, range_errors (bound by the device).
//!include lib/grid.wgsl
//!include lib/range_check.wgsl
const WG: u32 = 128u;

struct Params { batch: u32, classes: u32, features: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> cand: array<f32>;
@group(0) @binding(3) var<storage, read> best: array<f32>;
@group(0) @binding(4) var<storage, read> loss: array<f32>;
@group(0) @binding(5) var<storage, read> open: array<f32>;
@group(0) @binding(6) var<storage, read_write> best_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> open_out: array<f32>;
@group(0) @binding(9) var<uniform> params: Params;

var<workgroup> taken: u32;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = flat_id(wid, nwg);
  let valid = n < params.batch;
  if (lid.x == 0u && valid) {
    let k = params.classes;
    let label = labels[n];
    var take = false;
    var kept = loss[n];
    if (label >= 0 && u32(label) < k) {
      let y = u32(label);
      var other = -3.402823466e38;
      for (var j = 0u; j < k; j++) {
        if (j != y) { other = max(other, logits[n * k + j]); }
      }
      let margin = other - logits[n * k + y];
      take = open[n] != 0.0 && margin > kept;
      if (take) { kept = margin; }
    } else {
      report_out_of_range(RANGE_LABEL, n, label, k);
    }
    loss_out[n] = kept;
    open_out[n] = select(0.0, 1.0, open[n] != 0.0 && kept < 0.0);
    taken = select(0u, 1u, take);
  }
  workgroupBarrier();
  let take = taken != 0u;
  if (!valid) { return; }
  let base = n * params.features;
  for (var i = lid.x; i < params.features; i += WG) {
    best_out[base + i] = select(best[base + i], cand[base + i], take);
  }
}
