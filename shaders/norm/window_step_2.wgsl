// Prepended to the fused batch norm + ReLU + 2x2 max pool kernels where the pooled width
// is even: each step of the walk takes two neighbouring windows, so the input rows are
// read and written as vec4s and the pooled values, argmax and gradients as vec2s (on
// llvmpipe every storage access costs a loop over the SIMD lanes whatever its width).
const STEP: u32 = 2u;
alias RowPart = vec4<f32>;
alias Values = vec2<f32>;
alias Positions = vec2<u32>;

fn window_part(row: RowPart, k: u32) -> vec2<f32> {
    return select(row.xy, row.zw, k == 1u);
}

fn pack_row(a: vec2<f32>, b: vec2<f32>) -> RowPart {
    return vec4<f32>(a, b);
}

fn pack_values(a: f32, b: f32) -> Values {
    return vec2<f32>(a, b);
}

fn pack_positions(a: u32, b: u32) -> Positions {
    return vec2<u32>(a, b);
}

fn value_of(v: Values, k: u32) -> f32 {
    return v[k];
}

fn position_of(v: Positions, k: u32) -> u32 {
    return v[k];
}
