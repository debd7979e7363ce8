// dy at the output pixel whose window puts tap (kh, kw) on this input pixel, for any
// stride: zero where no output pixel does. The quotients by the stride come from stack_of
// (an f32 division; llvmpipe runs an integer one lane by lane): exact, as the launcher
// holds padded sides under 2^20.
fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let ty = c.ty - kk.kh;
    let tx = c.tx - kk.kw;
    if (ty < 0 || tx < 0) {
        return Value(0.0);
    }
    let uy = u32(ty);
    let ux = u32(tx);
    let oh = stack_of(uy, p.stride_h);
    let ow = stack_of(ux, p.stride_w);
    if (oh * p.stride_h != uy || ow * p.stride_w != ux) {
        return Value(0.0);
    }
    if (oh >= p.out_h || ow >= p.out_w) {
        return Value(0.0);
    }
    return load_b(c.base + kk.channel + oh * p.out_w + ow);
}
