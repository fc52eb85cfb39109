// counter[0] += 1 on a 32-bit integer word, in place (a step counter kept on the GPU, e.g. BatchNorm's
// num_batches_tracked, so counting needs neither a readback nor CPU-side state that a load could desync).
// Bindings: counter (read_write, i32). One thread.
@group(0) @binding(0) var<storage, read_write> counter: array<i32>;

@compute @workgroup_size(1, 1, 1)
fn main() {
  counter[0] = counter[0] + 1;
}
