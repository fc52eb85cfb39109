// TRADES' KL term per row: KL(p || q) with p = softmax(zn) (natural logits) and q = softmax(za) (adversarial
// logits), rows of length K. With (mn, sn), (ma, sa) the rows' online log-sum-exps, the log-ratio is
// l_j = log p_j - log q_j = (zn_j - za_j) - c, c = (mn - ma) + (log sn - log sa): differences of nearly equal
// logits are formed first, so nearby rows (TRADES starts at x + 0.001 N(0, I)) keep their small KL.
// KL_r is summed as sum_j p_j psi(l_j), psi(l) = e^-l - 1 + l >= 0 (equal to sum_j p_j l_j because
// sum_j p_j e^-l_j = sum_j q_j = 1): every term is non-negative, and an error e in c only enters as e^2 / 2,
// where sum_j p_j l_j would cancel to first order (a KL of 1e-7 between nearby rows keeps ~4 digits, not 0).
// MODE 0: y0[r] = KL_r.
// MODE 1 (all recomputed from the logits): y0[r, j] = gs (q_j - p_j) = d/d za (when WANT_ADV) and
// y1[r, j] = gs p_j (l_j - KL_r) = d/d zn (when WANT_NAT), gs = gscale * g[r * g_stride].
// Bindings: za, zn (read, f32), g (read, f32: upstream gradient in MODE 1, any buffer otherwise), y0, y1 (write,
// f32; an unwritten one may be any writable buffer), params {rows, len, gscale, g_stride}. TEAM threads per
// row as in softmax.wgsl (lib/row_reduce.wgsl); 1-D grid folded into 2-D.
//!include lib/stable.wgsl
//!include lib/row_reduce.wgsl
override MODE: u32 = 0u;
override WANT_ADV: bool = true;
override WANT_NAT: bool = true;

struct Params { rows: u32, len: u32, gscale: f32, g_stride: u32 }

@group(0) @binding(0) var<storage, read> za: array<f32>;
@group(0) @binding(1) var<storage, read> zn: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y0: array<f32>;
@group(0) @binding(4) var<storage, read_write> y1: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// e^-l - 1 + l: its Taylor series l^2 (1/2 - l/6 + ...) below |l| = 0.5, where the sum would cancel.
fn psi_small(l: f32) -> f32 {
  return l * l * (1.0 / 2.0 + l * (-1.0 / 6.0 + l * (1.0 / 24.0 + l * (-1.0 / 120.0 + l * (1.0 / 720.0 + l * (-1.0 / 5040.0 + l * (1.0 / 40320.0 - l / 362880.0)))))));
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = team_row(wid, nwg, lid.x);
  let lane = lid.x % TEAM;
  let valid = row < params.rows;
  let len = params.len;
  let base = row * len;
  var qa = LSE_EMPTY;
  var pn = LSE_EMPTY;
  if (valid) {
    for (var j = lane; j < len; j += TEAM) {
      qa = lse_push(qa, za[base + j]);
      pn = lse_push(pn, zn[base + j]);
    }
  }
  // (ma, sa, mn, sn): both rows' log-sum-exps in one tree.
  let r = team_reduce(lid.x, vec4<f32>(qa, pn), LSE_LSE);
  let ma = r.x;
  let sa = r.y;
  let mn = r.z;
  let sn = r.w;
  let c = (mn - ma) + (log(sn) - log(sa));
  var kl = 0.0;
  if (valid) {
    for (var j = lane; j < len; j += TEAM) {
      let vn = zn[base + j];
      let va = za[base + j];
      let en = exp(vn - mn);
      let l = (vn - va) - c;
      // en e^-l = e^(va - ma) sn / sa, so the large-|l| branch never exponentiates a positive number.
      if (abs(l) < 0.5) { kl += en * psi_small(l); }
      else { kl += exp(va - ma) * (sn / sa) - en + en * l; }
    }
  }
  kl = team_reduce(lid.x, vec4<f32>(kl, 0.0, 0.0, 0.0), SUM_SUM).x / sn;
  if (!valid) { return; }
  if (MODE == 0u) {
    if (lane == 0u) { y0[row] = kl; }
    return;
  }
  let gs = params.gscale * g[row * params.g_stride];
  for (var j = lane; j < len; j += TEAM) {
    let vn = zn[base + j];
    let va = za[base + j];
    let p = exp(vn - mn) / sn;
    if (WANT_ADV) { y0[base + j] = gs * (exp(va - ma) / sa - p); }
    if (WANT_NAT) { y1[base + j] = gs * p * (((vn - va) - c) - kl); }
  }
}
