// dy at the output pixel whose window puts tap (kh, kw) on this input pixel, for stride 1
// (no divisibility tests): oh = iy + pad_top - kh.
fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let oh = c.ty - kk.kh;
    let ow = c.tx - kk.kw;
    if (oh < 0 || ow < 0 || oh >= i32(p.out_h) || ow >= i32(p.out_w)) {
        return Value(0.0);
    }
    return load_b(c.base + kk.channel + u32(oh) * p.out_w + u32(ow));
}
