//! Batch normalisation over [N, C, inner] (inner = H*W, or 1 for [N, C]).

fn index(n: usize, c: usize, i: usize, channels: usize, inner: usize) -> usize {
    (n * channels + c) * inner + i
}

/// Per-channel batch mean and biased variance.
pub fn batch_stats(x: &[f64], batch: usize, channels: usize, inner: usize) -> (Vec<f64>, Vec<f64>) {
    let count = (batch * inner) as f64;
    let values = |c: usize| {
        (0..batch).flat_map(move |n| (0..inner).map(move |i| index(n, c, i, channels, inner)))
    };
    let mean: Vec<f64> = (0..channels)
        .map(|c| values(c).map(|j| x[j]).sum::<f64>() / count)
        .collect();
    let var = (0..channels)
        .map(|c| values(c).map(|j| (x[j] - mean[c]).powi(2)).sum::<f64>() / count)
        .collect();
    (mean, var)
}

/// `(x - mean) / sqrt(var + eps) * gamma + beta`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &[f64],
    channels: usize,
    inner: usize,
    mean: &[f64],
    var: &[f64],
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(j, &v)| {
            let c = (j / inner) % channels;
            (v - mean[c]) / (var[c] + eps).sqrt() * gamma[c] + beta[c]
        })
        .collect()
}

/// Gradients (dx, dgamma, dbeta). With `batch_stats`, mean and var are the batch's own
/// functions of x; otherwise they are constants.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    x: &[f64],
    dy: &[f64],
    batch: usize,
    channels: usize,
    inner: usize,
    mean: &[f64],
    var: &[f64],
    gamma: &[f64],
    eps: f64,
    batch_stats: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let count = (batch * inner) as f64;
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let xhat = |j: usize, c: usize| (x[j] - mean[c]) * inv_std[c];
    let mut dgamma = vec![0.0; channels];
    let mut dbeta = vec![0.0; channels];
    for (j, &g) in dy.iter().enumerate() {
        let c = (j / inner) % channels;
        dgamma[c] += g * xhat(j, c);
        dbeta[c] += g;
    }
    let dx = dy
        .iter()
        .enumerate()
        .map(|(j, &g)| {
            let c = (j / inner) % channels;
            if batch_stats {
                gamma[c] * inv_std[c] / count * (count * g - dbeta[c] - xhat(j, c) * dgamma[c])
            } else {
                gamma[c] * inv_std[c] * g
            }
        })
        .collect();
    (dx, dgamma, dbeta)
}
