// Prepended (with dropout_mask.wgsl) to the reductions and the broadcast whose reduced
// side goes through inverted dropout: element m of that side is dropped as the dropout
// kernel would drop element m of the reduced tensor, so a global average pool and the
// dropout after it are one kernel each way.
fn masked(v: f32, m: u32) -> f32 {
    return drop_out(v, p.seed, m, p.keep);
}
