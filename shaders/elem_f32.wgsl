// Prepended to the per-channel kernels for planes of any size: each step of the walk
// takes one f32 (see elem_vec4.wgsl).
alias Elem = f32;
const WIDTH: u32 = 1u;

fn elem_sum(v: Elem) -> f32 {
    return v;
}

fn elem_first(v: Elem) -> f32 {
    return v;
}
