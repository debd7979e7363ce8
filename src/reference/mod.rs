//! The CPU reference: plain Rust, f64 throughout, of every kernel forward and backward.
//! It is the oracle for the GPU kernels (and later for whole networks), so it is written
//! for obviousness, not speed. Layouts match the GPU's (row-major, NCHW).

pub mod batch_norm;
pub mod channels;
pub mod conv;
pub mod dense;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pool;

/// `max(x, 0)`.
pub fn relu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.max(0.0)).collect()
}

/// Gradient of ReLU: `dy` where `x > 0`.
pub fn relu_backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(&x, &g)| if x > 0.0 { g } else { 0.0 })
        .collect()
}

/// `alpha * a + beta * b`.
pub fn axpby(alpha: f64, a: &[f64], beta: f64, b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| alpha * a + beta * b)
        .collect()
}

/// Elementwise product.
pub fn mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(&a, &b)| a * b).collect()
}

/// Sum of all elements.
pub fn sum(x: &[f64]) -> f64 {
    x.iter().sum()
}

/// Mean of all elements (0 when empty).
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        sum(x) / x.len() as f64
    }
}

/// Per-channel sums of `x` viewed as [n, c, inner].
pub fn channel_sums(x: &[f64], n: usize, c: usize, inner: usize) -> Vec<f64> {
    (0..c)
        .map(|ch| {
            (0..n)
                .flat_map(|b| (0..inner).map(move |i| (b * c + ch) * inner + i))
                .map(|i| x[i])
                .sum()
        })
        .collect()
}

/// Global average pooling of [n, c, h, w] -> [n, c].
pub fn global_avg_pool(x: &[f64], n: usize, c: usize, hw: usize) -> Vec<f64> {
    x.chunks(hw)
        .take(n * c)
        .map(|plane| plane.iter().sum::<f64>() / hw as f64)
        .collect()
}

/// Backward of global average pooling: dy [n, c] -> dx [n, c, h, w].
pub fn global_avg_pool_backward(dy: &[f64], hw: usize) -> Vec<f64> {
    dy.iter()
        .flat_map(|&g| std::iter::repeat_n(g / hw as f64, hw))
        .collect()
}

/// The integer hash of shaders/elementwise/map.wgsl (PCG output permutation).
pub fn hash(x: u32) -> u32 {
    let state = x.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// Inverted dropout as the GPU draws it: element i survives when a uniform draw from
/// (seed, i) falls below `keep_prob`, and is then scaled by 1 / keep_prob.
pub fn dropout(x: &[f64], keep_prob: f64, seed: u32) -> Vec<f64> {
    let seed_hash = hash(seed);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let draw = (hash(i as u32 ^ seed_hash) >> 8) as f32 * (1.0 / 16_777_216.0);
            if (draw as f64) < keep_prob {
                v / keep_prob
            } else {
                0.0
            }
        })
        .collect()
}

/// Mean over rows of `[rows, cols]` -> `[cols]`.
pub fn mean_rows(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .map(|c| (0..rows).map(|r| x[r * cols + c]).sum::<f64>() / rows as f64)
        .collect()
}
