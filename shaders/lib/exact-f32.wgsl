// Deterministic f32 arithmetic (the CPU emulation is src/grid/exact-f32.ts).
//
// Only + − × (correctly rounded in WGSL and Vulkan), integer bit operations and
// exactly representable conversions are used, so a result has the same bits
// on every device and in the CPU twin. Every product that feeds an addition
// goes through ex(): an xor with `exact_zero`, a run-time 0 the compiler
// cannot see through, which stops it from fusing a*b + c into an fma.
//
// The including shader must:
//   - set `exact_zero = <a uniform field holding 0>;` first thing in main().
// The logarithm is in lib/exact-log.wgsl.

var<private> exact_zero: u32;

fn ex(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) ^ exact_zero);
}

// u32 → f32 with one correctly rounded addition (the plain conversion may
// round either way for values above 2^24).
fn u2f(x: u32) -> f32 {
  return f32(x >> 16u) * 65536.0 + f32(x & 0xffffu);
}

// 1/x for a positive normal x: 4 Newton steps from a bit-pattern seed.
fn recipx(x: f32) -> f32 {
  var y = bitcast<f32>(0x7ef311c7u - bitcast<u32>(x));
  for (var k = 0; k < 4; k++) {
    let e = 2.0 - ex(x * y);
    y = ex(y * e);
  }
  return y;
}
