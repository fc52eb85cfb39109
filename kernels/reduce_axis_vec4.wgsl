// reduce_axis.wgsl on vec4 elements, 4 words per load: x viewed as [A, R, B] vec4s, params in vec4s.
// FOLD false: the 4 lanes are 4 adjacent b of the word view (B words a multiple of 4), written as 4 words of y.
// FOLD true: the 4 lanes are 4 adjacent j of a row (B = 1 word, R and chunk multiples of 4 words), folded
// into one f32 y[a, c]. Sums times scale. The entry point and its loop are lib/reduce_axis_main.wgsl's.
// Bindings: x (read, vec4<f32>), y (write, f32), params {n = A*C*B, r = R, b = B, c = C, chunk, scale}.
//!include lib/nan.wgsl
//!include lib/reduce_axis_main.wgsl
alias V = vec4<f32>;
override FOLD: bool = false;

struct Params { n: u32, r: u32, b: u32, c: u32, chunk: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn nan_of(v: vec4<f32>) -> vec4<bool> { return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u); }

fn store(i: u32, acc: vec4<f32>) {
  if (!FOLD) {
    let v = acc * params.scale;
    y[4u * i] = v.x;
    y[4u * i + 1u] = v.y;
    y[4u * i + 2u] = v.z;
    y[4u * i + 3u] = v.w;
    return;
  }
  var r = (acc.x + acc.y) + (acc.z + acc.w);
  if (OP != 0u) {
    let a = select(min(acc.xy, acc.zw), max(acc.xy, acc.zw), OP == 1u);
    r = select(select(min(a.x, a.y), max(a.x, a.y), OP == 1u), bitcast<f32>(NAN_BITS), any(nan_of(acc)));
  }
  y[i] = r * params.scale;
}
