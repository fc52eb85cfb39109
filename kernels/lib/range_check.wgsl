// Range checks of labels and indices, for kernels that cannot throw. A kernel that includes this file
// declares the binding range_errors; Device.run binds the device's error words to it and sets
// RANGE_KERNEL_ID, and the next read on the host throws naming the op, the first bad element and its value
// (engine/range_errors.ts decodes the words). The kernel still writes a defined value (0 or NaN) for the
// element it refuses, and calls report_out_of_range once per bad element.
//
// range_errors (u32 words, reset by the host after each report):
//   0 owner: RANGE_KERNEL_ID + 1 of the first kernel to report since the last read, 0 while none has;
//        only the owner's elements are recorded below, so the record describes one kernel
//   1 how many of the owner's elements were out of range
//   2 the smallest bad element index (atomicMin; 0xffffffff while none)
//   3 claim: the index of the one element whose value, bound and kind follow (0xffffffff while none); words
//        4-6 are written once, by the thread that claims, so they always describe the same element even
//        when it is not the smallest index (the host then reports both)
//   4 the bad value (i32 bits)  5 the bound hi of the range [0, hi)  6 the kind: RANGE_LABEL or RANGE_INDEX
override RANGE_KERNEL_ID: u32 = 0u;
const RANGE_LABEL: u32 = 1u;
const RANGE_INDEX: u32 = 2u;
const RANGE_NONE: u32 = 0xffffffffu;

@group(0) @binding(15) var<storage, read_write> range_errors: array<atomic<u32>, 8>;

fn in_range(v: i32, hi: u32) -> bool {
  return v >= 0 && u32(v) < hi;
}

fn report_out_of_range(kind: u32, index: u32, value: i32, hi: u32) {
  let me = RANGE_KERNEL_ID + 1u;
  // Weak compare-exchange may fail spuriously: retry until some kernel owns the record.
  var owner = atomicLoad(&range_errors[0]);
  while (owner == 0u) {
    let r = atomicCompareExchangeWeak(&range_errors[0], 0u, me);
    owner = select(r.old_value, me, r.exchanged);
  }
  if (owner != me) { return; }
  atomicAdd(&range_errors[1], 1u);
  atomicMin(&range_errors[2], index);
  var claim = atomicLoad(&range_errors[3]);
  while (claim == RANGE_NONE) {
    let r = atomicCompareExchangeWeak(&range_errors[3], RANGE_NONE, index);
    if (r.exchanged) {
      atomicStore(&range_errors[4], bitcast<u32>(value));
      atomicStore(&range_errors[5], hi);
      atomicStore(&range_errors[6], kind);
      return;
    }
    claim = r.old_value;
  }
}
