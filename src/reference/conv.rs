//! Direct (seven nested loops) convolution, forward and backward.

use crate::geometry::Conv2dGeometry;

/// Input position seen by output (oh, ow) through tap (kh, kw), if inside the image.
fn input_at(
    g: &Conv2dGeometry,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
) -> Option<(usize, usize)> {
    let y = (oh * g.stride_h + kh).checked_sub(g.pad_top)?;
    let x = (ow * g.stride_w + kw).checked_sub(g.pad_left)?;
    (y < g.in_h && x < g.in_w).then_some((y, x))
}

/// Calls `f(x_index, w_index, y_index)` for every multiply-add of the convolution.
fn for_each_tap(g: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
    for b in 0..g.batch {
        for co in 0..g.out_c {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let yi = ((b * g.out_c + co) * g.out_h + oh) * g.out_w + ow;
                    for ci in 0..g.in_c {
                        for kh in 0..g.kernel_h {
                            for kw in 0..g.kernel_w {
                                if let Some((iy, ix)) = input_at(g, oh, ow, kh, kw) {
                                    let xi = ((b * g.in_c + ci) * g.in_h + iy) * g.in_w + ix;
                                    let wi =
                                        ((co * g.in_c + ci) * g.kernel_h + kh) * g.kernel_w + kw;
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Convolution output [N, Co, OH, OW].
pub fn conv2d(g: &Conv2dGeometry, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let plane = g.out_h * g.out_w;
    let mut y: Vec<f64> = (0..g.batch * g.out_c * plane)
        .map(|i| bias.map_or(0.0, |b| b[(i / plane) % g.out_c]))
        .collect();
    for_each_tap(g, |xi, wi, yi| y[yi] += x[xi] * w[wi]);
    y
}

/// Gradients (dx, dw, db) of [`conv2d`] for upstream gradient `dy`.
pub fn conv2d_backward(
    g: &Conv2dGeometry,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for_each_tap(g, |xi, wi, yi| {
        dx[xi] += w[wi] * dy[yi];
        dw[wi] += x[xi] * dy[yi];
    });
    let db = super::channel_sums(dy, g.batch, g.out_c, g.out_h * g.out_w);
    (dx, dw, db)
}
