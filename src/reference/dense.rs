//! Matrix products and the fully connected layer.

/// `op(a) * op(b)` for row-major a [ra, ca] and b [rb, cb]; op transposes when asked.
/// Returns the [m, n] product.
pub fn matmul(
    a: &[f64],
    (ra, ca): (usize, usize),
    ta: bool,
    b: &[f64],
    (rb, cb): (usize, usize),
    tb: bool,
) -> Vec<f64> {
    let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
    let n = if tb { rb } else { cb };
    let at = |i: usize, j: usize| if ta { a[j * ca + i] } else { a[i * ca + j] };
    let bt = |i: usize, j: usize| if tb { b[j * cb + i] } else { b[i * cb + j] };
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
        }
    }
    out
}

/// `x [batch, in] * w^T + bias`, w [out, in].
pub fn linear(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    batch: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<f64> {
    let mut y = matmul(x, (batch, inputs), false, w, (outputs, inputs), true);
    if let Some(bias) = bias {
        for row in y.chunks_mut(outputs) {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
    }
    y
}

/// Gradients of [`linear`]: (dx, dw, db).
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    batch: usize,
    inputs: usize,
    outputs: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let dx = matmul(dy, (batch, outputs), false, w, (outputs, inputs), false);
    let dw = matmul(dy, (batch, outputs), true, x, (batch, inputs), false);
    let db = super::channel_sums(dy, batch, outputs, 1);
    (dx, dw, db)
}
