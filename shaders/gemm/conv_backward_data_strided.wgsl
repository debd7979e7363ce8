// dy at the output pixel whose window puts tap (kh, kw) on this input pixel, for any
// stride: zero where no output pixel does.
fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let ty = c.ty - kk.kh;
    let tx = c.tx - kk.kw;
    if (ty < 0 || tx < 0) {
        return Value(0.0);
    }
    let uy = u32(ty);
    let ux = u32(tx);
    if (uy % p.stride_h != 0u || ux % p.stride_w != 0u) {
        return Value(0.0);
    }
    let oh = uy / p.stride_h;
    let ow = ux / p.stride_w;
    if (oh >= p.out_h || ow >= p.out_w) {
        return Value(0.0);
    }
    return load_b(c.base + kk.channel + oh * p.out_w + ow);
}
