//! Max and average pooling, forward and backward.

use crate::geometry::Pool2dGeometry;

/// Calls `f(plane, output_index, input_position_in_plane)` for every in-image tap of every
/// window, in the GPU kernel's scan order (row by row).
fn for_each_window_tap(g: &Pool2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    for plane in 0..g.batch * g.channels {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let o = (plane * g.out_h + oh) * g.out_w + ow;
                for kh in 0..g.kernel_h {
                    for kw in 0..g.kernel_w {
                        let iy = (oh * g.stride_h + kh).checked_sub(g.pad_h);
                        let ix = (ow * g.stride_w + kw).checked_sub(g.pad_w);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            if iy < g.in_h && ix < g.in_w {
                                f(plane, o, iy * g.in_w + ix);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Max pooling: (output, argmax) with argmax the winning `iy * in_w + ix` in its plane;
/// ties go to the first tap scanned.
pub fn max_pool2d(g: &Pool2dGeometry, x: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let n_out = g.batch * g.channels * g.out_h * g.out_w;
    let mut best: Vec<Option<(f64, usize)>> = vec![None; n_out];
    let in_plane = g.in_h * g.in_w;
    for_each_window_tap(g, |plane, o, at| {
        let v = x[plane * in_plane + at];
        if best[o].is_none_or(|(b, _)| v > b) {
            best[o] = Some((v, at));
        }
    });
    best.into_iter()
        .map(|b| b.expect("every window holds an input"))
        .map(|(v, at)| (v, at as u32))
        .unzip()
}

/// Backward of [`max_pool2d`]: each dy goes to its window's argmax.
pub fn max_pool2d_backward(g: &Pool2dGeometry, argmax: &[u32], dy: &[f64]) -> Vec<f64> {
    let in_plane = g.in_h * g.in_w;
    let out_plane = g.out_h * g.out_w;
    let mut dx = vec![0.0; g.batch * g.channels * in_plane];
    for (o, (&at, &grad)) in argmax.iter().zip(dy).enumerate() {
        dx[(o / out_plane) * in_plane + at as usize] += grad;
    }
    dx
}

/// Average pooling with the full window as divisor (padding counts as zeros).
pub fn avg_pool2d(g: &Pool2dGeometry, x: &[f64]) -> Vec<f64> {
    let area = (g.kernel_h * g.kernel_w) as f64;
    let in_plane = g.in_h * g.in_w;
    let mut y = vec![0.0; g.batch * g.channels * g.out_h * g.out_w];
    for_each_window_tap(g, |plane, o, at| y[o] += x[plane * in_plane + at] / area);
    y
}

/// Backward of [`avg_pool2d`].
pub fn avg_pool2d_backward(g: &Pool2dGeometry, dy: &[f64]) -> Vec<f64> {
    let area = (g.kernel_h * g.kernel_w) as f64;
    let in_plane = g.in_h * g.in_w;
    let mut dx = vec![0.0; g.batch * g.channels * in_plane];
    for_each_window_tap(g, |plane, o, at| dx[plane * in_plane + at] += dy[o] / area);
    dx
}
