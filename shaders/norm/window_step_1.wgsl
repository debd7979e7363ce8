// Prepended to the fused batch norm + ReLU + 2x2 max pool kernels where the pooled width
// is odd: each step of the walk takes one window (see window_step_2.wgsl). `RowPart` holds
// a step's input values in one row of its windows; `Values` and `Positions` one pooled
// value or argmax per window of the step.
const STEP: u32 = 1u;
alias RowPart = vec2<f32>;
alias Values = f32;
alias Positions = u32;

// The two input values of window k of the step in one row.
fn window_part(row: RowPart, k: u32) -> vec2<f32> {
    return row;
}

fn pack_row(a: vec2<f32>, b: vec2<f32>) -> RowPart {
    return a;
}

fn pack_values(a: f32, b: f32) -> Values {
    return a;
}

fn pack_positions(a: u32, b: u32) -> Positions {
    return a;
}

fn value_of(v: Values, k: u32) -> f32 {
    return v;
}

fn position_of(v: Positions, k: u32) -> u32 {
    return v;
}
