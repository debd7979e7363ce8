// The batch mean of row-wise softmax (the weight unit's task weights), in one workgroup:
// probs [rows, cols] = softmax of each row of z, mean [cols] = the mean of probs' rows.
// Each lane writes the softmax of rows local, local + LANES, ...; lane c < cols sums
// column c over the rows in order (as reduce_axes_serial sums a mean_rows), recomputing
// each row's softmax value from z with the same arithmetic rather than reading probs back
// (reading back what other lanes wrote made llvmpipe take 100 times longer).
struct Params {
    rows: u32,
    cols: u32,
    inv_rows: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;

const LANES: u32 = 64u;

// Row `row`'s largest value and the sum of exp(z - largest).
fn row_scale(row: u32) -> vec2<f32> {
    let base = row * p.cols;
    var row_max = -3.0e38;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        row_max = max(row_max, z[base + c]);
    }
    var total = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        total = total + exp(z[base + c] - row_max);
    }
    return vec2<f32>(row_max, total);
}

fn softmax_at(row: u32, c: u32, scale: vec2<f32>) -> f32 {
    return exp(z[row * p.cols + c] - scale.x) / scale.y;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) local: u32) {
    for (var row = local; row < p.rows; row = row + LANES) {
        let scale = row_scale(row);
        for (var c = 0u; c < p.cols; c = c + 1u) {
            probs[row * p.cols + c] = softmax_at(row, c, scale);
        }
    }
    for (var c = local; c < p.cols; c = c + LANES) {
        var sum = 0.0;
        for (var row = 0u; row < p.rows; row = row + 1u) {
            sum = sum + softmax_at(row, c, row_scale(row));
        }
        mean[c] = p.inv_rows * sum;
    }
}
