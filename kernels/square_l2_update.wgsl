// One L2 Square-attack candidate (Andriushchenko et al. 2020, as AutoAttack's square.py) per example of a batch
// [N, C, H, W]. With d = x_best - x, windows W1 at (vh, vw) and W2 at (vh2, vw2), both s x s, and per channel c:
//   r_c = sqrt(max(eps^2 - ||d||^2, 0) / C + ||d_c on W1 u W2||^2)       (the budget the window may take)
//   v_c = eta * sign_c + d_c|W1 / (1e-12 + ||d_c|W1||),   d'_c|W1 = v_c / (1e-12 + ||v_c||) * r_c,
//   d'_c = 0 on W2 \ W1, d_c elsewhere;   y = clamp(x + d' / (||d'|| + 1e-12) * eps, 0, 1).
// eta is the s x s meta-pseudo-gaussian pattern (engine/ops/square_attack.ts: squareEta), read transposed when
// u_4 > 0.5. Example n's draws u = draws[n, 0 .. 5 + C) (uniform in [0, 1)): vh = min(floor(u_0 (H - s + 1)), H - s),
// vw, vh2, vw2 likewise from u_1, u_2, u_3; sign_c = -1 where u_{5+c} < 0.5, else +1.
// One workgroup per example: the norms are workgroup sums (lib/workgroup_sum.wgsl; the two window sums of a channel
// share one pass and one tree), each channel in turn; every pass walks a channel with the same thread-to-pixel
// mapping, so y is written and read back by the same thread. 64 threads: on a CPU adapter (lavapipe) each tree's
// barriers cost more than its work, and 2 warps per example are enough for an image's few thousand values.
// Layout: x, x_best, y [N, C, H, W] row-major; draws [N, 5 + C]; eta [s, s]. Bindings: x, x_best, draws, eta
// (read, f32), y (write, f32), params {batch, channels, height, width, size, eps}.
//!include lib/grid.wgsl
const WG: u32 = 64u;
//!include lib/workgroup_sum.wgsl
var<workgroup> sum2_red: array<vec2<f32>, WG>;

// wg_sum for two sums at once (one tree, one set of barriers).
fn wg_sum2(t: u32, v: vec2<f32>) -> vec2<f32> {
  sum2_red[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { sum2_red[t] = sum2_red[t] + sum2_red[t + s]; }
    workgroupBarrier();
  }
  let total = sum2_red[0];
  workgroupBarrier();
  return total;
}

struct Params { batch: u32, channels: u32, height: u32, width: u32, size: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_best: array<f32>;
@group(0) @binding(2) var<storage, read> draws: array<f32>;
@group(0) @binding(3) var<storage, read> eta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

fn offset(u: f32, span: u32) -> u32 {
  return min(u32(floor(u * f32(span))), span - 1u);
}

fn in_window(row: u32, col: u32, top: u32, left: u32) -> bool {
  return row >= top && row < top + params.size && col >= left && col < left + params.size;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let example = flat_id(wid, nwg);
  let t = lid.x;
  let valid = example < params.batch;
  // Workgroups past the batch (a folded grid) walk nothing but still take part in the barriers.
  let n = select(0u, example, valid);
  let h = params.height;
  let w = params.width;
  let s = params.size;
  let c_count = params.channels;
  let plane = select(0u, h * w, valid);
  let base = n * c_count * h * w;
  let k = 5u + c_count;
  let u = n * k;
  let vh = offset(draws[u], h - s + 1u);
  let vw = offset(draws[u + 1u], w - s + 1u);
  let vh2 = offset(draws[u + 2u], h - s + 1u);
  let vw2 = offset(draws[u + 3u], w - s + 1u);
  let transposed = draws[u + 4u] > 0.5;
  let eps = params.eps;

  var acc = 0.0;
  for (var i = t; i < plane * c_count; i += WG) {
    let d = x_best[base + i] - x[base + i];
    acc += d * d;
  }
  let spare = max(eps * eps - wg_sum(t, acc), 0.0) / f32(c_count);

  var out_sq = 0.0;
  for (var c = 0u; c < c_count; c++) {
    let cb = base + c * h * w;
    // (window 1, windows 1 and 2)
    var sq = vec2<f32>(0.0, 0.0);
    for (var p = t; p < plane; p += WG) {
      let d = x_best[cb + p] - x[cb + p];
      let a = in_window(p / w, p % w, vh, vw);
      let b = in_window(p / w, p % w, vh2, vw2);
      sq += select(vec2<f32>(0.0, 0.0), vec2<f32>(select(0.0, d * d, a), d * d), a || b);
    }
    let sums = wg_sum2(t, sq);
    let norm1 = sqrt(sums.x);
    let room = sqrt(spare + sums.y);
    let sgn = select(1.0, -1.0, draws[u + 5u + c] < 0.5);

    var vv = 0.0;
    for (var p = t; p < plane; p += WG) {
      let row = p / w;
      let col = p % w;
      if (in_window(row, col, vh, vw)) {
        let a = row - vh;
        let b = col - vw;
        let e = eta[select(a * s + b, b * s + a, transposed)];
        let v = e * sgn + (x_best[cb + p] - x[cb + p]) / (1e-12 + norm1);
        vv += v * v;
      }
    }
    let vnorm = sqrt(wg_sum(t, vv));

    for (var p = t; p < plane; p += WG) {
      let row = p / w;
      let col = p % w;
      var d = x_best[cb + p] - x[cb + p];
      if (in_window(row, col, vh, vw)) {
        let a = row - vh;
        let b = col - vw;
        let e = eta[select(a * s + b, b * s + a, transposed)];
        let v = e * sgn + d / (1e-12 + norm1);
        d = v / (1e-12 + vnorm) * room;
      } else if (in_window(row, col, vh2, vw2)) {
        d = 0.0;
      }
      y[cb + p] = d;
      out_sq += d * d;
    }
  }
  let scale = eps / (sqrt(wg_sum(t, out_sq)) + 1e-12);

  for (var c = 0u; c < c_count; c++) {
    let cb = base + c * h * w;
    for (var p = t; p < plane; p += WG) {
      y[cb + p] = clamp(x[cb + p] + y[cb + p] * scale, 0.0, 1.0);
    }
  }
}
