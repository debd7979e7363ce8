//! Central finite differences (f64) confirm every backward of the CPU reference, which in
//! turn is the oracle for the GPU kernels. Each check projects the op's output onto a
//! random vector r, so the scalar objective is <r, f(x)> and its gradient is backward(r).

mod common;

use common::{check_gradient, dot, random, rng, uneven_strided, widen};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Pool2dGeometry, Pool2dSpec};
use facemtl::reference::{self, conv, dense, loss, norm, pool};
use rand::rngs::StdRng;

fn random64(r: &mut StdRng, n: usize) -> Vec<f64> {
    widen(&random(r, n))
}

#[test]
fn elementwise_and_pooling_reductions() {
    let mut r = rng(100);
    let x: Vec<f64> = random64(&mut r, 50)
        .into_iter()
        .map(|v| if v.abs() < 1e-3 { 0.5 } else { v })
        .collect();
    let proj = random64(&mut r, 50);
    check_gradient("relu", &x, &reference::relu_backward(&x, &proj), |x| {
        dot(&proj, &reference::relu(x))
    });
    let (n, c, hw) = (2, 3, 10);
    let x = random64(&mut r, n * c * hw);
    let proj = random64(&mut r, n * c);
    check_gradient(
        "global_avg_pool",
        &x,
        &reference::global_avg_pool_backward(&proj, hw),
        |x| dot(&proj, &reference::global_avg_pool(x, n, c, hw)),
    );
    let proj_c = random64(&mut r, c);
    let channel_grad: Vec<f64> = (0..x.len()).map(|i| proj_c[(i / hw) % c]).collect();
    check_gradient("channel_sums", &x, &channel_grad, |x| {
        dot(&proj_c, &reference::channel_sums(x, n, c, hw))
    });
}

#[test]
fn linear() {
    let mut r = rng(101);
    let (batch, inputs, outputs) = (3, 5, 4);
    let x = random64(&mut r, batch * inputs);
    let w = random64(&mut r, outputs * inputs);
    let b = random64(&mut r, outputs);
    let proj = random64(&mut r, batch * outputs);
    let (dx, dw, db) = dense::linear_backward(&x, &w, &proj, batch, inputs, outputs);
    check_gradient("linear dx", &x, &dx, |x| {
        dot(
            &proj,
            &dense::linear(x, &w, Some(&b), batch, inputs, outputs),
        )
    });
    check_gradient("linear dw", &w, &dw, |w| {
        dot(
            &proj,
            &dense::linear(&x, w, Some(&b), batch, inputs, outputs),
        )
    });
    check_gradient("linear db", &b, &db, |b| {
        dot(
            &proj,
            &dense::linear(&x, &w, Some(b), batch, inputs, outputs),
        )
    });
}

#[test]
fn conv2d() {
    let mut r = rng(102);
    let cases = [
        ([2usize, 2, 5, 6], [3usize, 2, 3, 3], Conv2dSpec::new(1, 1)),
        ([1, 3, 7, 7], [2, 3, 3, 2], uneven_strided()),
        ([2, 1, 6, 5], [2, 1, 1, 1], Conv2dSpec::new(2, 0)),
    ];
    for (input, weight, spec) in cases {
        let g = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let x = random64(&mut r, input.iter().product());
        let w = random64(&mut r, weight.iter().product());
        let b = random64(&mut r, weight[0]);
        let proj = random64(&mut r, g.output_shape().iter().product());
        let (dx, dw, db) = conv::conv2d_backward(&g, &x, &w, &proj);
        check_gradient("conv dx", &x, &dx, |x| {
            dot(&proj, &conv::conv2d(&g, x, &w, Some(&b)))
        });
        check_gradient("conv dw", &w, &dw, |w| {
            dot(&proj, &conv::conv2d(&g, &x, w, Some(&b)))
        });
        check_gradient("conv db", &b, &db, |b| {
            dot(&proj, &conv::conv2d(&g, &x, &w, Some(b)))
        });
    }
}

#[test]
fn pooling() {
    let mut r = rng(103);
    for (input, spec) in [
        ([2usize, 2, 6, 7], Pool2dSpec::new(3, 2, 1)),
        ([1, 1, 5, 5], Pool2dSpec::new(2, 1, 0)),
    ] {
        let g = Pool2dGeometry::new("test", &input, spec).unwrap();
        let x = random64(&mut r, input.iter().product());
        let proj = random64(&mut r, g.output_shape().iter().product());
        let (_, argmax) = pool::max_pool2d(&g, &x);
        check_gradient(
            "max_pool",
            &x,
            &pool::max_pool2d_backward(&g, &argmax, &proj),
            |x| dot(&proj, &pool::max_pool2d(&g, x).0),
        );
        check_gradient("avg_pool", &x, &pool::avg_pool2d_backward(&g, &proj), |x| {
            dot(&proj, &pool::avg_pool2d(&g, x))
        });
    }
}

#[test]
fn softmax_cross_entropy() {
    let mut r = rng(104);
    let (rows, classes) = (6, 5);
    let logits = random64(&mut r, rows * classes);
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % classes as u32).collect();
    let mask = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let (_, probs, _) = loss::softmax_cross_entropy(&logits, classes, &labels, &mask);
    let dloss = 0.3;
    let analytic = loss::softmax_cross_entropy_backward(&probs, classes, &labels, &mask, dloss);
    check_gradient("softmax_ce", &logits, &analytic, |z| {
        dloss * loss::softmax_cross_entropy(z, classes, &labels, &mask).0
    });
}

#[test]
fn l2_normalize() {
    let mut r = rng(105);
    let (rows, cols) = (4, 7);
    let x = random64(&mut r, rows * cols);
    let proj = random64(&mut r, rows * cols);
    let analytic = norm::l2_normalize_rows_backward(&x, &proj, cols, 1e-12);
    check_gradient("l2_normalize", &x, &analytic, |x| {
        dot(&proj, &norm::l2_normalize_rows(x, cols, 1e-12))
    });
}

#[test]
fn batch_norm_with_batch_statistics() {
    use facemtl::reference::batch_norm as bn;
    let mut r = rng(106);
    let (n, c, inner, eps) = (3, 2, 4, 1e-5);
    let x = random64(&mut r, n * c * inner);
    let gamma = random64(&mut r, c);
    let beta = random64(&mut r, c);
    let proj = random64(&mut r, x.len());
    let forward = |x: &[f64], gamma: &[f64], beta: &[f64]| {
        let (mean, var) = bn::batch_stats(x, n, c, inner);
        dot(
            &proj,
            &bn::batch_norm(x, c, inner, &mean, &var, gamma, beta, eps),
        )
    };
    let (mean, var) = bn::batch_stats(&x, n, c, inner);
    let (dx, dgamma, dbeta) =
        bn::batch_norm_backward(&x, &proj, n, c, inner, &mean, &var, &gamma, eps, true);
    check_gradient("batch_norm dx", &x, &dx, |x| forward(x, &gamma, &beta));
    check_gradient("batch_norm dgamma", &gamma, &dgamma, |g| {
        forward(&x, g, &beta)
    });
    check_gradient("batch_norm dbeta", &beta, &dbeta, |b| {
        forward(&x, &gamma, b)
    });
    // With fixed statistics the mean and variance are constants.
    let (dx_fixed, _, _) =
        bn::batch_norm_backward(&x, &proj, n, c, inner, &mean, &var, &gamma, eps, false);
    check_gradient("batch_norm dx (fixed stats)", &x, &dx_fixed, |x| {
        dot(
            &proj,
            &bn::batch_norm(x, c, inner, &mean, &var, &gamma, &beta, eps),
        )
    });
}

#[test]
fn softmax_rows() {
    let mut r = rng(107);
    let (rows, cols) = (3, 4);
    let z = random64(&mut r, rows * cols);
    let proj = random64(&mut r, rows * cols);
    let p = loss::softmax(&z, cols);
    check_gradient(
        "softmax",
        &z,
        &loss::softmax_backward(&p, &proj, cols),
        |z| dot(&proj, &loss::softmax(z, cols)),
    );
}
