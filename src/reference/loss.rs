//! Masked softmax cross-entropy.

/// Softmax of each row of `logits` [rows, classes].
pub fn softmax(logits: &[f64], classes: usize) -> Vec<f64> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
            row.iter().map(move |v| (v - max).exp() / total)
        })
        .collect()
}

/// (mean loss over masked-in rows, probabilities, sum of mask).
pub fn softmax_cross_entropy(
    logits: &[f64],
    classes: usize,
    labels: &[u32],
    mask: &[f64],
) -> (f64, Vec<f64>, f64) {
    let probs = softmax(logits, classes);
    let valid: f64 = mask.iter().sum();
    let total: f64 = labels
        .iter()
        .zip(mask)
        .enumerate()
        .filter(|(_, (_, &m))| m != 0.0)
        .map(|(row, (&label, &m))| -m * probs[row * classes + label as usize].ln())
        .sum();
    (total / valid.max(1.0), probs, valid)
}

/// Gradient w.r.t. the logits for upstream gradient `dloss`.
pub fn softmax_cross_entropy_backward(
    probs: &[f64],
    classes: usize,
    labels: &[u32],
    mask: &[f64],
    dloss: f64,
) -> Vec<f64> {
    let valid: f64 = mask.iter().sum();
    probs
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let row = i / classes;
            let target = if (i % classes) as u32 == labels[row] {
                1.0
            } else {
                0.0
            };
            dloss * mask[row] * (p - target) / valid.max(1.0)
        })
        .collect()
}

/// Backward of [`softmax`] from its output `probs` and upstream `dprobs`.
pub fn softmax_backward(probs: &[f64], dprobs: &[f64], classes: usize) -> Vec<f64> {
    probs
        .chunks(classes)
        .zip(dprobs.chunks(classes))
        .flat_map(|(p, g)| {
            let dot: f64 = p.iter().zip(g).map(|(a, b)| a * b).sum();
            p.iter()
                .zip(g)
                .map(move |(pi, gi)| pi * (gi - dot))
                .collect::<Vec<_>>()
        })
        .collect()
}
