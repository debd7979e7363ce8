// Prepended to the reductions and the broadcast: values pass unchanged (see dropout.wgsl).
fn masked(v: f32, m: u32) -> f32 {
    return v;
}
