//! Channel concatenation, its inverse, and Inception-ResNet's scaled residual.

/// `parts` (each `(values, channels)` of `[n, channels, plane]`) side by side along
/// channels: `[n, sum channels, plane]`.
pub fn concat_channels(parts: &[(&[f64], usize)], n: usize, plane: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for sample in 0..n {
        for &(values, channels) in parts {
            let inner = channels * plane;
            out.extend_from_slice(&values[sample * inner..(sample + 1) * inner]);
        }
    }
    out
}

/// Channels `[start, start + count)` of `x` `[n, channels, plane]`.
pub fn channel_slice(
    x: &[f64],
    n: usize,
    channels: usize,
    plane: usize,
    start: usize,
    count: usize,
) -> Vec<f64> {
    (0..n)
        .flat_map(|sample| {
            let from = (sample * channels + start) * plane;
            x[from..from + count * plane].iter().copied()
        })
        .collect()
}

/// `relu(x + scale * r)`, or `x + scale * r` without the ReLU.
pub fn scaled_residual(x: &[f64], r: &[f64], scale: f64, relu: bool) -> Vec<f64> {
    x.iter()
        .zip(r)
        .map(|(&x, &r)| {
            let z = x + scale * r;
            if relu {
                z.max(0.0)
            } else {
                z
            }
        })
        .collect()
}

/// The gradients (to x, to r) of [`scaled_residual`], from its inputs.
pub fn scaled_residual_backward(
    x: &[f64],
    r: &[f64],
    dy: &[f64],
    scale: f64,
    relu: bool,
) -> (Vec<f64>, Vec<f64>) {
    let dx: Vec<f64> = x
        .iter()
        .zip(r)
        .zip(dy)
        .map(|((&x, &r), &g)| if !relu || x + scale * r > 0.0 { g } else { 0.0 })
        .collect();
    let dr = dx.iter().map(|g| scale * g).collect();
    (dx, dr)
}
