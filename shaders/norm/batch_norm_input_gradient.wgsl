// Prepended to the batch-norm backward-input kernels (alone, with ReLU, and fused with the
// pool), which bind `variance`, `gamma`, `dgamma`, `dbeta` and have `eps`, `count` (batch
// * plane size) and `batch_stats` in their Params. For channel c,
//   dx = k * dy - slope * (x - mean) - shift, k = gamma * inv_std,
// with batch statistics (training) slope = k * inv_std * dgamma / count and shift = k *
// dbeta / count (the gradient also flows through the mean and variance), with fixed
// running statistics slope = shift = 0.
struct InputGradient {
    k: f32,
    slope: f32,
    shift: f32,
}

fn input_gradient(c: u32) -> InputGradient {
    let inv_std = inverseSqrt(variance[c] + p.eps);
    let k = gamma[c] * inv_std;
    if (p.batch_stats == 0u) {
        return InputGradient(k, 0.0, 0.0);
    }
    return InputGradient(k, k * inv_std * dgamma[c] / p.count, k * dbeta[c] / p.count);
}
