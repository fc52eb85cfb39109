// One L-inf Square-attack candidate (Andriushchenko et al. 2020) for a whole batch [N, C, H, W]:
//   y = clamp(min(max(x_best + delta, x - eps), x + eps), 0, 1),
// delta = 2 eps sign_nc inside example n's s x s window (every channel c, one sign each), 0 outside it.
// Example n's draws u = draws[n, 0 .. 2 + C) (uniform in [0, 1)) place the window and pick the signs:
// top row vh = min(floor(u_0 (H - s + 1)), H - s), left column vw likewise from u_1 and W,
// sign_nc = -1 where u_{2+c} < 0.5, else +1. Every offset 0..H-s is drawn (the reference's randint(0, H - s)
// never reaches the last row or column; see training/attacks/square.ts).
// Layout: x, x_best, y [N, C, H, W] row-major; draws [N, 2 + C]. Bindings: x, x_best, draws (read, f32),
// y (write, f32), params {first, channels, height, width, size, eps}. One pixel per thread on a grid
// [ceil(H W / 64), C, examples]: workgroup (., c, e) holds channel c of example first + e, so a thread divides only
// once (for its row; integer division is scalar code on a CPU adapter). The wrapper splits batches past the
// 65535 workgroups a grid dimension allows into dispatches starting at `first`.
const WG: u32 = 64u;

struct Params { first: u32, channels: u32, height: u32, width: u32, size: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_best: array<f32>;
@group(0) @binding(2) var<storage, read> draws: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// An offset in 0..span-1 from a uniform u in [0, 1); the min guards u * span rounding up to span.
fn offset(u: f32, span: u32) -> u32 {
  return min(u32(floor(u * f32(span))), span - 1u);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let h = params.height;
  let w = params.width;
  let s = params.size;
  let plane = h * w;
  let p = wid.x * WG + lid.x;
  if (p >= plane) { return; }
  let c = wid.y;
  let example = params.first + wid.z;
  let row = p / w;
  let col = p - row * w;
  let i = (example * params.channels + c) * plane + p;
  let k = 2u + params.channels;
  let vh = offset(draws[example * k], h - s + 1u);
  let vw = offset(draws[example * k + 1u], w - s + 1u);
  let inside = row >= vh && row < vh + s && col >= vw && col < vw + s;
  let sgn = select(1.0, -1.0, draws[example * k + 2u + c] < 0.5);
  let eps = params.eps;
  let x0 = x[i];
  let moved = x_best[i] + select(0.0, 2.0 * eps * sgn, inside);
  y[i] = clamp(min(max(moved, x0 - eps), x0 + eps), 0.0, 1.0);
}
