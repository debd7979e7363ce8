//! Row-wise L2 normalisation, `y = x / max(||x||, eps)`.

/// Normalised rows of `x` [rows, cols].
pub fn l2_normalize_rows(x: &[f64], cols: usize, eps: f64) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|row| {
            let denom = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(eps);
            row.iter().map(move |v| v / denom)
        })
        .collect()
}

/// Gradient of [`l2_normalize_rows`] w.r.t. `x` for upstream gradient `dy`.
pub fn l2_normalize_rows_backward(x: &[f64], dy: &[f64], cols: usize, eps: f64) -> Vec<f64> {
    x.chunks(cols)
        .zip(dy.chunks(cols))
        .flat_map(|(row, g)| {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            let y: Vec<f64> = row.iter().map(|v| v / norm.max(eps)).collect();
            let dot: f64 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            y.into_iter()
                .zip(g)
                .map(move |(yi, gi)| {
                    if norm > eps {
                        (gi - yi * dot) / norm
                    } else {
                        gi / eps
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
