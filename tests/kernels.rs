//! Every GPU kernel, forward and backward, against the f64 CPU reference on seeded random
//! inputs, over shapes chosen to break tiling: batch 1 and > 1, one channel, odd sizes,
//! sizes that are not multiples of the 32x32 GEMM tile, stride 2, padding 0/1/2 and
//! asymmetric, non-square kernels, large K. Outputs are NaN-poisoned before each kernel.

mod common;

use common::op::{check_op, check_op_on, Expected, GpuOp, Input};
use common::{
    assert_batch_statistics, assert_close, assert_tensor, download, gpu, random, rng, upload,
    widen, RunningBefore, Tolerance,
};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Padding, Pool2dGeometry, Pool2dSpec};
use facemtl::gpu::{Indices, Tensor};
use facemtl::kernels::{conv, elementwise, loss, matmul, norm, optim, pool, reduce};
use facemtl::reference;
use rand::rngs::StdRng;

#[test]
fn elementwise_ops_match_reference() {
    let g = gpu();
    let mut r = rng(1);
    // Lengths that are multiples of 4 take the vec4 kernels (map4.wgsl) where the op has
    // one; the others one f32 per invocation.
    for n in [1usize, 7, 4, 256, 1000, 70_001, 280_004] {
        let (a, b) = (random(&mut r, n), random(&mut r, n));
        let (ta, tb) = (upload(&[n], &a), upload(&[n], &b));
        let (a64, b64) = (widen(&a), widen(&b));
        let tol = Tolerance::ELEMENTWISE;
        assert_tensor(
            "add",
            &elementwise::add(g, &ta, &tb).unwrap(),
            &reference::axpby(1.0, &a64, 1.0, &b64),
            tol,
        );
        let axpby = elementwise::axpby(g, 0.5, &ta, -2.0, &tb).unwrap();
        assert_tensor(
            "axpby",
            &axpby,
            &reference::axpby(0.5, &a64, -2.0, &b64),
            tol,
        );
        assert_tensor(
            "mul",
            &elementwise::mul(g, &ta, &tb).unwrap(),
            &reference::mul(&a64, &b64),
            tol,
        );
        let scaled = elementwise::scale(g, &ta, 3.0).unwrap();
        assert_tensor(
            "scale",
            &scaled,
            &reference::axpby(3.0, &a64, 0.0, &b64),
            tol,
        );
        assert_tensor(
            "relu",
            &elementwise::relu(g, &ta).unwrap(),
            &reference::relu(&a64),
            tol,
        );
        let relu_back = elementwise::relu_backward(g, &ta, &tb).unwrap();
        assert_tensor(
            "relu_backward",
            &relu_back,
            &reference::relu_backward(&a64, &b64),
            tol,
        );
        let acc = upload(&[n], &a);
        elementwise::accumulate(g, &acc, &tb, 0.25).unwrap();
        assert_tensor(
            "accumulate",
            &acc,
            &reference::axpby(1.0, &a64, 0.25, &b64),
            tol,
        );
        acc.fill(g, -1.5).unwrap();
        assert_tensor("fill", &acc, &vec![-1.5; n], tol);
        acc.fill(g, 0.0).unwrap();
        assert_tensor("fill zero", &acc, &vec![0.0; n], tol);
    }
}

#[test]
fn reductions_match_reference() {
    let g = gpu();
    let mut r = rng(2);
    for n in [1usize, 255, 257, 10_000] {
        let x = random(&mut r, n);
        let t = upload(&[n], &x);
        let x64 = widen(&x);
        let tol = Tolerance::ACCUMULATED;
        assert_tensor(
            "sum",
            &reduce::sum(g, &t).unwrap(),
            &[reference::sum(&x64)],
            tol,
        );
        assert_tensor(
            "mean",
            &reduce::mean(g, &t).unwrap(),
            &[reference::mean(&x64)],
            tol,
        );
        let squares: Vec<f64> = x64.iter().map(|v| v * v).collect();
        assert_tensor(
            "sum_squares",
            &reduce::sum_squares(g, &t).unwrap(),
            &[reference::sum(&squares)],
            tol,
        );
    }
    // Channel sums over [N, C, H, W] and [N, C]; C = 70 000 needs a 2-D workgroup grid.
    for shape in [
        vec![3usize, 5, 7, 9],
        vec![1, 1, 1, 1],
        vec![17, 33],
        vec![2, 70_000],
    ] {
        let x = random(&mut r, shape.iter().product());
        let (n, c, inner) = (shape[0], shape[1], shape[2..].iter().product());
        let got = reduce::channel_sums(g, &upload(&shape, &x)).unwrap();
        assert_eq!(got.shape(), &[c]);
        assert_tensor(
            &format!("channel_sums {shape:?}"),
            &got,
            &reference::channel_sums(&widen(&x), n, c, inner),
            Tolerance::ACCUMULATED,
        );
    }
}

#[test]
fn global_avg_pool_forward_and_backward_match_reference() {
    let g = gpu();
    let mut r = rng(3);
    for [n, c, h, w] in [
        [1usize, 1, 1, 1],
        [2, 3, 5, 7],
        [4, 16, 8, 8],
        [1, 2, 31, 17],
    ] {
        let x = random(&mut r, n * c * h * w);
        let y = reduce::global_avg_pool(g, &upload(&[n, c, h, w], &x)).unwrap();
        assert_eq!(y.shape(), &[n, c]);
        assert_tensor(
            "global_avg_pool",
            &y,
            &reference::global_avg_pool(&widen(&x), n, c, h * w),
            Tolerance::ACCUMULATED,
        );
        let dy = random(&mut r, n * c);
        let dx = reduce::global_avg_pool_backward(g, &upload(&[n, c], &dy), &[n, c, h, w]).unwrap();
        assert_tensor(
            "global_avg_pool_backward",
            &dx,
            &reference::global_avg_pool_backward(&widen(&dy), h * w),
            Tolerance::ELEMENTWISE,
        );
        // With dropout on the pooled values, one kernel each way: the same bits as the
        // pool (or its backward) and the dropout kernel in turn, and the reference's
        // values. [1, 2, 31, 17] takes the workgroup-per-output reduction, the others the
        // serial one.
        let bits = |t: &Tensor| download(t).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for mask in [
            reduce::DropoutMask {
                keep: 0.5,
                seed: 11,
            },
            reduce::DropoutMask {
                keep: 0.8,
                seed: 4242,
            },
        ] {
            let case = format!("global_avg_pool_dropout {:?} {mask:?}", [n, c, h, w]);
            let tx = upload(&[n, c, h, w], &x);
            let fused = reduce::global_avg_pool_dropout(g, &tx, mask).unwrap();
            let apart = elementwise::dropout(g, &y, mask.keep, mask.seed).unwrap();
            assert_eq!(bits(&fused), bits(&apart), "{case} forward");
            let pooled = reference::global_avg_pool(&widen(&x), n, c, h * w);
            assert_tensor(
                &case,
                &fused,
                &reference::dropout(&pooled, mask.keep as f64, mask.seed),
                Tolerance::ACCUMULATED,
            );
            let tdy = upload(&[n, c], &dy);
            let fused =
                reduce::global_avg_pool_dropout_backward(g, &tdy, &[n, c, h, w], mask).unwrap();
            let masked = elementwise::dropout(g, &tdy, mask.keep, mask.seed).unwrap();
            let apart = reduce::global_avg_pool_backward(g, &masked, &[n, c, h, w]).unwrap();
            assert_eq!(bits(&fused), bits(&apart), "{case} backward");
        }
    }
    let x = upload(&[1, 1, 2, 2], &[1.0; 4]);
    let bad = reduce::DropoutMask { keep: 0.0, seed: 1 };
    assert!(reduce::global_avg_pool_dropout(g, &x, bad).is_err());
}

#[test]
fn matmul_matches_reference_for_all_transposes() {
    let g = gpu();
    let mut r = rng(4);
    for (m, k, n) in [
        (1usize, 1usize, 1usize),
        (5, 7, 3),
        (33, 65, 31),
        (64, 300, 17),
        (3, 2000, 40),
        (97, 1, 129),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a_shape = if ta { [k, m] } else { [m, k] };
            let b_shape = if tb { [n, k] } else { [k, n] };
            let a = random(&mut r, m * k);
            let b = random(&mut r, k * n);
            let got =
                matmul::matmul(g, &upload(&a_shape, &a), &upload(&b_shape, &b), ta, tb).unwrap();
            assert_eq!(got.shape(), &[m, n]);
            let want = reference::dense::matmul(
                &widen(&a),
                (a_shape[0], a_shape[1]),
                ta,
                &widen(&b),
                (b_shape[0], b_shape[1]),
                tb,
            );
            assert_tensor(
                &format!("matmul {m}x{k}x{n} ta={ta} tb={tb}"),
                &got,
                &want,
                Tolerance::ACCUMULATED,
            );
        }
    }
}

#[test]
fn batched_matmul_matches_reference() {
    let g = gpu();
    let mut r = rng(5);
    let (batch, m, k, n) = (3usize, 9usize, 35usize, 34usize);
    let a = random(&mut r, batch * m * k);
    let b = random(&mut r, batch * n * k);
    let got = matmul::matmul(
        g,
        &upload(&[batch, m, k], &a),
        &upload(&[batch, n, k], &b),
        false,
        true,
    )
    .unwrap();
    assert_eq!(got.shape(), &[batch, m, n]);
    let got = download(&got);
    for i in 0..batch {
        let want = reference::dense::matmul(
            &widen(&a[i * m * k..][..m * k]),
            (m, k),
            false,
            &widen(&b[i * n * k..][..n * k]),
            (n, k),
            true,
        );
        assert_close(
            &format!("batched matmul, batch {i}"),
            &got[i * m * n..][..m * n],
            &want,
            Tolerance::ACCUMULATED,
        );
    }
}

#[test]
fn linear_forward_and_backward_match_reference() {
    let g = gpu();
    let mut r = rng(6);
    // Input widths on both sides of the narrow software tile's 64 columns (the weight and
    // bias gradients take in + 1 columns).
    for (batch, inputs, outputs) in [
        (1usize, 1usize, 1usize),
        (5, 17, 3),
        (90, 128, 40),
        (33, 257, 7),
        (32, 63, 18),
        (32, 64, 128),
        (3, 65, 2),
    ] {
        let x = random(&mut r, batch * inputs);
        let w = random(&mut r, outputs * inputs);
        let b = random(&mut r, outputs);
        let dy = random(&mut r, batch * outputs);
        let (tx, tw, tb) = (
            upload(&[batch, inputs], &x),
            upload(&[outputs, inputs], &w),
            upload(&[outputs], &b),
        );
        let (x64, w64, b64, dy64) = (widen(&x), widen(&w), widen(&b), widen(&dy));
        let case = format!("linear {batch}x{inputs}->{outputs}");
        let y = matmul::linear(g, &tx, &tw, Some(&tb)).unwrap();
        assert_tensor(
            &case,
            &y,
            &reference::dense::linear(&x64, &w64, Some(&b64), batch, inputs, outputs),
            Tolerance::ACCUMULATED,
        );
        let y = matmul::linear(g, &tx, &tw, None).unwrap();
        assert_tensor(
            &format!("{case} no bias"),
            &y,
            &reference::dense::linear(&x64, &w64, None, batch, inputs, outputs),
            Tolerance::ACCUMULATED,
        );
        let grads = matmul::linear_backward(g, &tx, &tw, &upload(&[batch, outputs], &dy)).unwrap();
        let (dx, dw, db) =
            reference::dense::linear_backward(&x64, &w64, &dy64, batch, inputs, outputs);
        assert_tensor(
            &format!("{case} dx"),
            &grads.input,
            &dx,
            Tolerance::ACCUMULATED,
        );
        assert_tensor(
            &format!("{case} dw"),
            &grads.weight,
            &dw,
            Tolerance::ACCUMULATED,
        );
        assert_tensor(
            &format!("{case} db"),
            &grads.bias,
            &db,
            Tolerance::ACCUMULATED,
        );
        let dw_alone =
            matmul::linear_backward_weight(g, &upload(&[batch, outputs], &dy), &tx).unwrap();
        assert_tensor(
            &format!("{case} dw without bias"),
            &dw_alone,
            &dw,
            Tolerance::ACCUMULATED,
        );
    }
}

/// (input [N, C, H, W], weight [Co, Ci, KH, KW], spec)
fn conv_cases() -> Vec<([usize; 4], [usize; 4], Conv2dSpec)> {
    let asymmetric = Padding {
        top: 1,
        bottom: 0,
        left: 2,
        right: 1,
    };
    vec![
        ([1, 1, 5, 5], [1, 1, 3, 3], Conv2dSpec::new(1, 0)),
        ([2, 3, 7, 9], [4, 3, 3, 3], Conv2dSpec::new(1, 1)),
        ([3, 2, 8, 8], [5, 2, 5, 5], Conv2dSpec::new(2, 2)),
        (
            [2, 3, 11, 6],
            [2, 3, 1, 7],
            Conv2dSpec {
                stride: (1, 1),
                padding: Padding {
                    top: 0,
                    bottom: 0,
                    left: 3,
                    right: 3,
                },
            },
        ),
        (
            [2, 2, 9, 7],
            [3, 2, 7, 1],
            Conv2dSpec {
                stride: (2, 1),
                padding: Padding {
                    top: 3,
                    bottom: 3,
                    left: 0,
                    right: 0,
                },
            },
        ),
        ([1, 4, 6, 6], [8, 4, 1, 1], Conv2dSpec::new(1, 0)),
        ([2, 5, 13, 13], [33, 5, 3, 3], Conv2dSpec::new(2, 1)),
        ([1, 64, 6, 6], [3, 64, 3, 3], Conv2dSpec::new(1, 1)),
        (
            [4, 3, 16, 16],
            [6, 3, 3, 3],
            Conv2dSpec {
                stride: (2, 2),
                padding: asymmetric,
            },
        ),
        ([2, 1, 31, 29], [35, 1, 3, 3], Conv2dSpec::new(1, 1)),
        // Stride phases that no tap reaches (1x1 stride 2: the data gradient is zero at
        // odd pixels) and nine phases of one tap each (3x3 stride 3).
        ([2, 3, 7, 7], [4, 3, 1, 1], Conv2dSpec::new(2, 0)),
        ([2, 2, 10, 11], [3, 2, 3, 3], Conv2dSpec::new(3, 1)),
        // Inception-ResNet's stem and reductions: 3x3 stride 2 "valid" on odd sides.
        ([2, 3, 23, 23], [8, 3, 3, 3], Conv2dSpec::new(2, 0)),
        ([3, 6, 9, 9], [10, 6, 3, 3], Conv2dSpec::new(2, 0)),
        // Its Block8's 1x3 then 3x1 "same" convolutions on a 3x3 plane.
        (
            [2, 12, 3, 3],
            [5, 12, 1, 3],
            Conv2dSpec {
                stride: (1, 1),
                padding: Padding {
                    top: 0,
                    bottom: 0,
                    left: 1,
                    right: 1,
                },
            },
        ),
        (
            [2, 5, 3, 3],
            [7, 5, 3, 1],
            Conv2dSpec {
                stride: (1, 1),
                padding: Padding {
                    top: 1,
                    bottom: 1,
                    left: 0,
                    right: 0,
                },
            },
        ),
    ]
}

#[test]
fn conv2d_forward_matches_reference() {
    let g = gpu();
    let mut r = rng(7);
    for (input, weight, spec) in conv_cases() {
        let geom = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let b = random(&mut r, weight[0]);
        let case = format!("conv2d {input:?} * {weight:?} {spec:?}");
        let y = conv::conv2d(
            g,
            &upload(&input, &x),
            &upload(&weight, &w),
            Some(&upload(&[weight[0]], &b)),
            spec,
        )
        .unwrap();
        assert_eq!(y.shape(), &geom.output_shape(), "{case}");
        let want = reference::conv::conv2d(&geom, &widen(&x), &widen(&w), Some(&widen(&b)));
        assert_tensor(&case, &y, &want, Tolerance::ACCUMULATED);
        let y = conv::conv2d(g, &upload(&input, &x), &upload(&weight, &w), None, spec).unwrap();
        let want = reference::conv::conv2d(&geom, &widen(&x), &widen(&w), None);
        assert_tensor(
            &format!("{case} no bias"),
            &y,
            &want,
            Tolerance::ACCUMULATED,
        );
    }
}

#[test]
fn conv2d_backward_matches_reference() {
    let g = gpu();
    let mut r = rng(8);
    for (input, weight, spec) in conv_cases() {
        let geom = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let op = GpuOp {
            forward: Box::new(move |t: &[Tensor]| {
                conv::conv2d(g, &t[0], &t[1], Some(&t[2]), spec).unwrap()
            }),
            output: |y: &Tensor| y,
            backward: Box::new(move |t: &[Tensor], _, dy| {
                let grads = conv::conv2d_backward(g, &t[0], &t[1], dy, spec).unwrap();
                vec![grads.input, grads.weight, grads.bias]
            }),
        };
        let case = format!("conv2d backward {input:?} * {weight:?} {spec:?}");
        let shapes: [&[usize]; 3] = [&input, &weight, &[weight[0]]];
        check_op(
            &case,
            &mut r,
            &shapes,
            Tolerance::ACCUMULATED,
            &op,
            |t, dy| {
                let output = reference::conv::conv2d(&geom, &t[0], &t[1], Some(&t[2]));
                let (dx, dw, db) = reference::conv::conv2d_backward(&geom, &t[0], &t[1], dy);
                Expected {
                    output,
                    grads: vec![dx, dw, db],
                }
            },
        );
    }
}

fn pool_cases() -> Vec<([usize; 4], Pool2dSpec)> {
    vec![
        ([1, 1, 4, 4], Pool2dSpec::new(2, 2, 0)),
        ([2, 3, 7, 9], Pool2dSpec::new(3, 2, 1)),
        ([2, 2, 8, 8], Pool2dSpec::new(3, 1, 1)),
        ([1, 4, 9, 7], Pool2dSpec::new(2, 1, 0)),
        (
            [3, 2, 11, 10],
            Pool2dSpec {
                kernel: (3, 2),
                stride: (2, 1),
                padding: (1, 0),
            },
        ),
        ([2, 1, 13, 13], Pool2dSpec::new(5, 3, 2)),
        // Windows that tile the input exactly (the backward scatters per window), over
        // planes that are not multiples of the 8 x 8 workgroup.
        ([3, 5, 18, 14], Pool2dSpec::new(2, 2, 0)),
        ([1, 2, 24, 24], Pool2dSpec::new(2, 2, 0)),
        ([2, 2, 9, 6], Pool2dSpec::new(3, 3, 0)),
        // Stride = kernel but a row and column left over: the gathering backward.
        ([2, 3, 9, 11], Pool2dSpec::new(2, 2, 0)),
        // More planes than a grid dimension holds (65535): the kernels stride over them.
        ([1, 65_537, 2, 2], Pool2dSpec::new(2, 2, 0)),
        ([1, 65_537, 3, 2], Pool2dSpec::new(2, 1, 0)),
        // Inception-ResNet's 3x3 stride-2 "valid" pools (stem and reductions), odd sides.
        ([2, 5, 21, 21], Pool2dSpec::new(3, 2, 0)),
        ([3, 7, 9, 9], Pool2dSpec::new(3, 2, 0)),
    ]
}

#[test]
fn max_pool_forward_and_backward_match_reference() {
    let g = gpu();
    let mut r = rng(9);
    for (input, spec) in pool_cases() {
        let geom = Pool2dGeometry::new("test", &input, spec).unwrap();
        let op = GpuOp {
            forward: Box::new(move |x: &[Tensor]| pool::max_pool2d(g, &x[0], spec).unwrap()),
            output: |out: &pool::MaxPoolOutput| &out.output,
            backward: Box::new(move |_, out: &pool::MaxPoolOutput, dy| {
                vec![pool::max_pool2d_backward(g, dy, &out.argmax, &input, spec).unwrap()]
            }),
        };
        let mut want_arg = Vec::new();
        let case = format!("max_pool2d {input:?} {spec:?}");
        let out = check_op(
            &case,
            &mut r,
            &[&input],
            Tolerance::ELEMENTWISE,
            &op,
            |x, dy| {
                let (output, argmax) = reference::pool::max_pool2d(&geom, &x[0]);
                let grads = vec![reference::pool::max_pool2d_backward(&geom, &argmax, dy)];
                want_arg = argmax;
                Expected { output, grads }
            },
        );
        assert_eq!(out.argmax.to_vec(g).unwrap(), want_arg, "{case} argmax");
    }
}

#[test]
fn fused_batch_norm_relu_matches_reference_composition() {
    // relu(batch_norm(x)) forward; backward = batch-norm backward of dy masked by the
    // output, against the f64 reference of the two ops one after the other.
    let mut r = rng(21);
    // [65_537, 2]: more images than a grid dimension holds, so the kernels stride over them.
    // Planes of any size (one f32 per step) and multiples of 4 (vec4 steps).
    for shape in [
        vec![2usize, 3, 5, 7],
        vec![4, 70, 3, 3],
        vec![3, 2, 1, 65],
        vec![3, 5, 6, 6],
        vec![8, 4],
        vec![65_537, 2],
    ] {
        for batch_stats in [true, false] {
            let inputs = batch_norm_inputs(&mut r, &shape, 2.0, -0.3);
            check_op_on(
                &format!("batch_norm+relu {shape:?} batch_stats={batch_stats}"),
                &mut r,
                &inputs,
                Tolerance::ACCUMULATED,
                &batch_norm_op(true, batch_stats),
                batch_norm_reference(&shape, AfterNorm::Relu, batch_stats),
            );
        }
    }
}

#[test]
fn max_pool_ties_go_to_the_first_tap_deterministically() {
    // The general kernel (3x3 stride 2) and the 2x2 stride-2 windows' own, in pairs of
    // windows (6 wide) and one at a time (10 wide: 5 windows a row).
    let g = gpu();
    for (input, spec) in [
        ([1usize, 2, 6, 6], Pool2dSpec::new(3, 2, 1)),
        ([2, 2, 6, 6], Pool2dSpec::new(2, 2, 0)),
        ([2, 3, 4, 10], Pool2dSpec::new(2, 2, 0)),
    ] {
        let geom = Pool2dGeometry::new("test", &input, spec).unwrap();
        let x = vec![0.5f32; input.iter().product()];
        let (_, want_arg) = reference::pool::max_pool2d(&geom, &widen(&x));
        for _ in 0..3 {
            let out = pool::max_pool2d(g, &upload(&input, &x), spec).unwrap();
            assert_eq!(
                out.argmax.to_vec(g).unwrap(),
                want_arg,
                "{input:?} {spec:?}"
            );
        }
    }
}

#[test]
fn avg_pool_forward_and_backward_match_reference() {
    let g = gpu();
    let mut r = rng(10);
    for (input, spec) in pool_cases() {
        let geom = Pool2dGeometry::new("test", &input, spec).unwrap();
        let op = GpuOp {
            forward: Box::new(move |x: &[Tensor]| pool::avg_pool2d(g, &x[0], spec).unwrap()),
            output: |y: &Tensor| y,
            backward: Box::new(move |_, _, dy| {
                vec![pool::avg_pool2d_backward(g, dy, &input, spec).unwrap()]
            }),
        };
        let case = format!("avg_pool2d {input:?} {spec:?}");
        check_op(
            &case,
            &mut r,
            &[&input],
            Tolerance::ELEMENTWISE,
            &op,
            |x, dy| Expected {
                output: reference::pool::avg_pool2d(&geom, &x[0]),
                grads: vec![reference::pool::avg_pool2d_backward(&geom, dy)],
            },
        );
    }
}

#[test]
fn softmax_cross_entropy_matches_reference_with_masks() {
    let g = gpu();
    let mut r = rng(11);
    for (rows, classes, masked_out) in [
        (1usize, 1usize, 0usize),
        (5, 7, 2),
        (90, 40, 30),
        (3, 300, 1),
        (4, 6, 4),
        // The one-workgroup kernel's limit (64 rows) and one past it (two kernels).
        (64, 40, 10),
        (65, 7, 3),
    ] {
        let logits: Vec<f32> = random(&mut r, rows * classes)
            .iter()
            .map(|v| 4.0 * v)
            .collect();
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7 + 3) % classes) as u32).collect();
        let mask: Vec<f32> = (0..rows)
            .map(|i| {
                if i % rows.max(1) < masked_out {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let (tl, tm) = (
            Indices::from_slice(g, &labels).unwrap(),
            upload(&[rows], &mask),
        );
        let fwd =
            loss::softmax_cross_entropy(g, &upload(&[rows, classes], &logits), &tl, &tm).unwrap();
        let (want_loss, want_probs, want_valid) = reference::loss::softmax_cross_entropy(
            &widen(&logits),
            classes,
            &labels,
            &widen(&mask),
        );
        let case = format!("softmax_ce {rows}x{classes}, {masked_out} unlabelled");
        assert_tensor(
            &format!("{case} loss"),
            &fwd.loss,
            &[want_loss],
            Tolerance::TRANSCENDENTAL,
        );
        assert_tensor(
            &format!("{case} probs"),
            &fwd.probs,
            &want_probs,
            Tolerance::TRANSCENDENTAL,
        );
        assert_tensor(
            &format!("{case} valid"),
            &fwd.valid,
            &[want_valid],
            Tolerance::ELEMENTWISE,
        );
        let dloss = 0.7;
        let dlogits =
            loss::softmax_cross_entropy_backward(g, &fwd, &tl, &tm, &upload(&[1], &[dloss]))
                .unwrap();
        let want = reference::loss::softmax_cross_entropy_backward(
            &want_probs,
            classes,
            &labels,
            &widen(&mask),
            dloss as f64,
        );
        assert_tensor(
            &format!("{case} backward"),
            &dlogits,
            &want,
            Tolerance::TRANSCENDENTAL,
        );
    }
}

#[test]
fn l2_normalize_matches_reference_including_zero_rows() {
    let g = gpu();
    let mut r = rng(12);
    let eps = 1e-6f32;
    for (rows, cols) in [(1usize, 1usize), (4, 128), (3, 1), (2, 300), (5, 63)] {
        let mut x = random(&mut r, rows * cols);
        x[..cols].fill(0.0); // a zero row takes the clamped branch
        let fwd = norm::l2_normalize_rows(g, &upload(&[rows, cols], &x), eps).unwrap();
        let case = format!("l2_normalize {rows}x{cols}");
        assert_tensor(
            &case,
            &fwd.output,
            &reference::norm::l2_normalize_rows(&widen(&x), cols, eps as f64),
            Tolerance::TRANSCENDENTAL,
        );
        let dy = random(&mut r, rows * cols);
        let dx =
            norm::l2_normalize_rows_backward(g, &fwd, &upload(&[rows, cols], &dy), eps).unwrap();
        let want =
            reference::norm::l2_normalize_rows_backward(&widen(&x), &widen(&dy), cols, eps as f64);
        assert_tensor(
            &format!("{case} backward"),
            &dx,
            &want,
            Tolerance::TRANSCENDENTAL,
        );
    }
}

/// Runs `steps` updates of one optimiser on the GPU and the reference, from the same start.
fn check_optimizer(
    name: &str,
    state_count: usize,
    gpu_step: impl Fn(&Tensor, &Tensor, &Tensor, &[Tensor], u32),
    ref_step: impl Fn(&mut [f64], &[f64], f64, &mut [Vec<f64>], u32),
) {
    let g = gpu();
    let mut r = rng(13);
    let n = 1000;
    let p0 = random(&mut r, n);
    let param = upload(&[n], &p0);
    let mut p_ref = widen(&p0);
    let state: Vec<Tensor> = (0..state_count)
        .map(|_| Tensor::zeros(g, &[n]).unwrap())
        .collect();
    let mut s_ref = vec![vec![0.0; n]; state_count];
    let grad_scale = 0.5f32;
    let scale = upload(&[1], &[grad_scale]);
    for step in 1..=3 {
        let grad = random(&mut r, n);
        gpu_step(&param, &upload(&[n], &grad), &scale, &state, step);
        ref_step(
            &mut p_ref,
            &widen(&grad),
            grad_scale as f64,
            &mut s_ref,
            step,
        );
    }
    assert_tensor(
        &format!("{name} params after 3 steps"),
        &param,
        &p_ref,
        Tolerance::TRANSCENDENTAL,
    );
    for (i, (s, want)) in state.iter().zip(&s_ref).enumerate() {
        assert_tensor(
            &format!("{name} state {i}"),
            s,
            want,
            Tolerance::TRANSCENDENTAL,
        );
    }
}

#[test]
fn optimizer_updates_match_reference() {
    let g = gpu();
    let sgd = optim::SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 1e-2,
    };
    check_optimizer(
        "sgd",
        1,
        |p, gr, s, st, _| optim::sgd_update(g, p, gr, s, &st[0], sgd).unwrap(),
        |p, gr, s, st, _| reference::optim::sgd_update(p, gr, s, &mut st[0], sgd),
    );
    let adam = optim::AdamConfig {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-3,
    };
    check_optimizer(
        "adam",
        2,
        |p, gr, s, st, t| optim::adam_update(g, p, gr, s, &st[0], &st[1], adam, t).unwrap(),
        |p, gr, s, st, t| {
            let (m, v) = st.split_at_mut(1);
            reference::optim::adam_update(p, gr, s, &mut m[0], &mut v[0], adam, t)
        },
    );
    let rms = optim::RmsPropConfig {
        lr: 0.01,
        decay: 0.9,
        momentum: 0.9,
        eps: 1.0,
        weight_decay: 1e-4,
    };
    check_optimizer(
        "rmsprop",
        2,
        |p, gr, s, st, _| optim::rmsprop_update(g, p, gr, s, &st[0], &st[1], rms).unwrap(),
        |p, gr, s, st, _| {
            let (ms, mom) = st.split_at_mut(1);
            reference::optim::rmsprop_update(p, gr, s, &mut ms[0], &mut mom[0], rms)
        },
    );
}

/// The epsilon of every batch-norm test.
const BN_EPS: f32 = 1e-5;

/// Seeded inputs of a batch-norm test on `shape` [N, C, ...]: x = scale * u + shift for
/// uniform u, then gamma and beta.
fn batch_norm_inputs(r: &mut StdRng, shape: &[usize], scale: f32, shift: f32) -> Vec<Input> {
    let c = shape[1];
    vec![
        Input::random(r, shape, scale, shift),
        Input::random(r, &[c], 1.0, 0.0),
        Input::random(r, &[c], 1.0, 0.0),
    ]
}

/// What follows a batch norm in the op under test.
#[derive(Debug, Clone, Copy)]
enum AfterNorm {
    Nothing,
    Relu,
    /// ReLU, then this max pool.
    ReluMaxPool(Pool2dSpec),
}

/// The f64 reference of batch norm over x [N, C, ...] (inputs x, gamma, beta) with its
/// batch statistics, then `after`: the output, and dx, dgamma, dbeta for the output
/// gradient dy, with the statistics' own gradient (`batch_stats`) or with them fixed.
fn batch_norm_reference(
    shape: &[usize],
    after: AfterNorm,
    batch_stats: bool,
) -> impl FnOnce(&[Vec<f64>], &[f64]) -> Expected {
    let shape = shape.to_vec();
    move |inputs, dy| {
        let [x, gamma, beta] = inputs else {
            panic!("batch norm takes x, gamma and beta")
        };
        let (n, c, inner) = (shape[0], shape[1], shape[2..].iter().product());
        let (mean, var, normalized) = reference_normalized(&shape, x, gamma, beta);
        let (output, dy_normalized) = match after {
            AfterNorm::Nothing => (normalized, dy.to_vec()),
            AfterNorm::Relu => (
                reference::relu(&normalized),
                reference::relu_backward(&normalized, dy),
            ),
            AfterNorm::ReluMaxPool(spec) => {
                let y = reference::relu(&normalized);
                let geometry = Pool2dGeometry::new("test", &shape, spec).unwrap();
                let (pooled, argmax) = reference::pool::max_pool2d(&geometry, &y);
                let dy_y = reference::pool::max_pool2d_backward(&geometry, &argmax, dy);
                (pooled, reference::relu_backward(&y, &dy_y))
            }
        };
        let (dx, dgamma, dbeta) = reference::batch_norm::batch_norm_backward(
            x,
            &dy_normalized,
            n,
            c,
            inner,
            &mean,
            &var,
            gamma,
            BN_EPS as f64,
            batch_stats,
        );
        Expected {
            output,
            grads: vec![dx, dgamma, dbeta],
        }
    }
}

/// relu(batch_norm(x)) of an op's inputs x, gamma, beta, computed in f64 and uploaded: the
/// ReLU mask the GPU backward is given, so that a value within rounding of 0 cannot flip.
fn reference_relu_output(inputs: &[Tensor]) -> Tensor {
    let [x, gamma, beta] = [0, 1, 2].map(|i| widen(&download(&inputs[i])));
    let shape = inputs[0].shape();
    let (_, _, normalized) = reference_normalized(shape, &x, &gamma, &beta);
    let y: Vec<f32> = reference::relu(&normalized)
        .iter()
        .map(|&v| v as f32)
        .collect();
    upload(shape, &y)
}

/// The f64 batch statistics of x [N, C, ...] (mean, biased variance) and x normalised by
/// them, scaled by gamma and shifted by beta.
fn reference_normalized(
    shape: &[usize],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, c, inner) = (shape[0], shape[1], shape[2..].iter().product());
    let (mean, var) = reference::batch_norm::batch_stats(x, n, c, inner);
    let eps = BN_EPS as f64;
    let normalized = reference::batch_norm::batch_norm(x, c, inner, &mean, &var, gamma, beta, eps);
    (mean, var, normalized)
}

/// Batch norm of x, gamma, beta with its batch statistics (then ReLU where `relu`), as a
/// checked op; backward with the statistics' own gradient (`batch_stats`) or without.
fn batch_norm_op(relu: bool, batch_stats: bool) -> GpuOp<(norm::BatchStats, Tensor)> {
    GpuOp {
        forward: Box::new(move |t: &[Tensor]| {
            let stats = norm::batch_norm_stats(gpu(), &t[0], None).unwrap();
            let y = norm::batch_norm_apply(gpu(), &t[0], &stats, &t[1], &t[2], BN_EPS, relu);
            (stats, y.unwrap())
        }),
        output: |(_, y): &(norm::BatchStats, Tensor)| y,
        backward: Box::new(move |t: &[Tensor], (stats, _), dy| {
            let mask = relu.then(|| reference_relu_output(t));
            let grads = norm::batch_norm_backward(
                gpu(),
                &t[0],
                dy,
                stats,
                &t[1],
                BN_EPS,
                batch_stats,
                mask.as_ref(),
            )
            .unwrap();
            vec![grads.input, grads.gamma, grads.beta]
        }),
    }
}

#[test]
fn batch_norm_matches_reference_in_training_and_eval() {
    let g = gpu();
    let mut r = rng(14);
    for shape in [
        vec![2usize, 3, 5, 7],
        vec![1, 1, 1, 3],
        vec![8, 4, 4, 4],
        vec![16, 5],
        vec![3, 300, 2, 2],
        // Split into runs of images (the kernels take 1024 elements or more per workgroup).
        vec![9, 2, 13, 17],
    ] {
        let case = format!("batch_norm {shape:?}");
        for batch_stats in [true, false] {
            let inputs = batch_norm_inputs(&mut r, &shape, 3.0, 0.5);
            check_op_on(
                &format!("{case} batch_stats={batch_stats}"),
                &mut r,
                &inputs,
                Tolerance::ACCUMULATED,
                &batch_norm_op(false, batch_stats),
                batch_norm_reference(&shape, AfterNorm::Nothing, batch_stats),
            );
        }
        // Training moves the running statistics by the batch's; evaluation normalises by
        // them and leaves them be.
        let [x, gamma, beta] = &batch_norm_inputs(&mut r, &shape, 3.0, 0.5)[..] else {
            unreachable!()
        };
        let (n, c, inner) = (shape[0], shape[1], shape[2..].iter().product());
        let (rm0, rv0) = (random(&mut r, c), vec![1.0f32; c]);
        let (rm, rv) = (upload(&[c], &rm0), upload(&[c], &rv0));
        let tx = upload(&shape, &x.values);
        let running = norm::RunningStats {
            mean: &rm,
            var: &rv,
            momentum: 0.1,
        };
        let stats = norm::batch_norm_stats(g, &tx, Some(running)).unwrap();
        let before = RunningBefore {
            mean: &rm,
            var: &rv,
            mean_before: &rm0,
            var_before: &rv0,
        };
        assert_batch_statistics(&case, &stats, before, &widen(&x.values), [n, c, inner]);
        let (running_mean, running_var) = (widen(&download(&rm)), widen(&download(&rv)));
        let fixed = norm::BatchStats {
            mean: rm.clone(),
            var: rv.clone(),
        };
        let (tg, tb) = (upload(&[c], &gamma.values), upload(&[c], &beta.values));
        let y_eval = norm::batch_norm_apply(g, &tx, &fixed, &tg, &tb, BN_EPS, false).unwrap();
        let want_eval = reference::batch_norm::batch_norm(
            &widen(&x.values),
            c,
            inner,
            &running_mean,
            &running_var,
            &widen(&gamma.values),
            &widen(&beta.values),
            BN_EPS as f64,
        );
        assert_tensor(
            &format!("{case} eval"),
            &y_eval,
            &want_eval,
            Tolerance::ACCUMULATED,
        );
        assert_eq!(
            download(&rm),
            running_mean.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            "{case}: evaluation moved the running mean"
        );
    }
}

#[test]
fn dropout_matches_reference_and_is_its_own_backward() {
    let g = gpu();
    let mut r = rng(15);
    let n = 10_000;
    let x = random(&mut r, n);
    for (keep, seed) in [(0.5f32, 1u32), (0.8, 12345), (1.0, 7)] {
        let y = download(&elementwise::dropout(g, &upload(&[n], &x), keep, seed).unwrap());
        let want = reference::dropout(&widen(&x), keep as f64, seed);
        assert_close(
            &format!("dropout keep={keep}"),
            &y,
            &want,
            Tolerance::ELEMENTWISE,
        );
        let kept = want.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
        assert!(
            (kept - keep as f64).abs() < 0.03,
            "dropout keep={keep} kept {kept}"
        );
    }
    let a = download(&elementwise::dropout(g, &upload(&[n], &x), 0.5, 1).unwrap());
    let b = download(&elementwise::dropout(g, &upload(&[n], &x), 0.5, 2).unwrap());
    assert_ne!(a, b, "different seeds must drop different elements");
    assert!(elementwise::dropout(g, &upload(&[n], &x), 0.0, 1).is_err());
}

#[test]
fn dropout_over_many_steps_keeps_its_law() {
    // What a training run sees: each step's tape draws its dropout layers' masks from the
    // step's seed. Over 200 steps of a [32, 64] activation of ones, for the run's keep 0.8:
    // the share kept, the mean activation (inverted dropout keeps it at 1), and two layers
    // of one step (the FER branch's) independent: both kept 0.64 of the time. Each bound is
    // about four binomial standard deviations.
    let g = gpu();
    let store = facemtl::autodiff::ParamStore::new();
    let (keep, n, steps) = (0.8f32, 32 * 64, 200);
    let ones = Tensor::full(g, &[32, 64], 1.0).unwrap();
    let (mut kept, mut both, mut sum) = (0usize, 0usize, 0f64);
    for step in 0..steps {
        let mut tape = facemtl::autodiff::Tape::new(g, &store, true, 7919 * step + 13);
        let x = tape.input(ones.clone());
        let first = tape.dropout(x, keep).unwrap();
        let second = tape.dropout(x, keep).unwrap();
        let (a, b) = (download(tape.value(first)), download(tape.value(second)));
        kept += a.iter().filter(|&&v| v != 0.0).count();
        both += a
            .iter()
            .zip(&b)
            .filter(|(&u, &v)| u != 0.0 && v != 0.0)
            .count();
        sum += a.iter().map(|&v| v as f64).sum::<f64>();
        assert!(
            a.iter().all(|&v| v == 0.0 || v == 1.0 / keep),
            "inverted scaling"
        );
    }
    let total = (n * steps as usize) as f64;
    let sd = |p: f64| (p * (1.0 - p) / total).sqrt();
    let share = kept as f64 / total;
    assert!((share - 0.8).abs() < 4.0 * sd(0.8), "kept {share}");
    let joint = both as f64 / total;
    assert!((joint - 0.64).abs() < 4.0 * sd(0.64), "both kept {joint}");
    let mean = sum / total;
    assert!(
        (mean - 1.0).abs() < 4.0 * sd(0.8) / 0.8,
        "mean activation {mean}"
    );
}

#[test]
fn relu_dropout_is_relu_then_dropout_both_ways_bit_for_bit() {
    // The fused op must draw the same mask and give the same bits as the two ops in turn,
    // forward and backward; and match the reference (dropout of the reference ReLU).
    let g = gpu();
    let mut r = rng(17);
    let n = 4099;
    let (x, dy) = (random(&mut r, n), random(&mut r, n));
    let (tx, tdy) = (upload(&[n], &x), upload(&[n], &dy));
    let bits = |t: &Tensor| download(t).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    for (keep, seed) in [(0.5f32, 3u32), (0.8, 99)] {
        let fused = elementwise::relu_dropout(g, &tx, keep, seed).unwrap();
        let apart =
            elementwise::dropout(g, &elementwise::relu(g, &tx).unwrap(), keep, seed).unwrap();
        assert_eq!(
            bits(&fused),
            bits(&apart),
            "relu_dropout keep={keep} forward"
        );
        let relu64: Vec<f64> = widen(&x).iter().map(|v| v.max(0.0)).collect();
        assert_tensor(
            &format!("relu_dropout keep={keep}"),
            &fused,
            &reference::dropout(&relu64, keep as f64, seed),
            Tolerance::ELEMENTWISE,
        );
        let fused = elementwise::relu_dropout_backward(g, &tx, &tdy, keep, seed).unwrap();
        let masked = elementwise::dropout(g, &tdy, keep, seed).unwrap();
        let apart = elementwise::relu_backward(g, &tx, &masked).unwrap();
        assert_eq!(
            bits(&fused),
            bits(&apart),
            "relu_dropout keep={keep} backward"
        );
    }
    assert!(elementwise::relu_dropout(g, &tx, 1.5, 1).is_err());
}

#[test]
fn softmax_rows_and_mean_rows_match_reference() {
    let g = gpu();
    let mut r = rng(16);
    for (rows, cols) in [(1usize, 1usize), (90, 2), (7, 130), (32, 2), (200, 3)] {
        let z: Vec<f32> = random(&mut r, rows * cols)
            .iter()
            .map(|v| 5.0 * v)
            .collect();
        let p = loss::softmax_rows(g, &upload(&[rows, cols], &z)).unwrap();
        let want = reference::loss::softmax(&widen(&z), cols);
        let case = format!("softmax_rows {rows}x{cols}");
        assert_tensor(&case, &p, &want, Tolerance::TRANSCENDENTAL);
        let dp = random(&mut r, rows * cols);
        let dz = loss::softmax_rows_backward(g, &p, &upload(&[rows, cols], &dp)).unwrap();
        assert_tensor(
            &format!("{case} backward"),
            &dz,
            &reference::loss::softmax_backward(&want, &widen(&dp), cols),
            Tolerance::TRANSCENDENTAL,
        );
        let m = reduce::mean_rows(g, &p).unwrap();
        assert_tensor(
            &format!("{case} mean_rows"),
            &m,
            &reference::mean_rows(&want, rows, cols),
            Tolerance::ACCUMULATED,
        );
        let dm = random(&mut r, cols);
        let back = reduce::mean_rows_backward(g, &upload(&[cols], &dm), rows).unwrap();
        let want_back: Vec<f64> = (0..rows * cols)
            .map(|i| dm[i % cols] as f64 / rows as f64)
            .collect();
        assert_tensor(
            &format!("{case} mean_rows backward"),
            &back,
            &want_back,
            Tolerance::ELEMENTWISE,
        );
        // The two in one op, each way: the same values as the ops in turn (and so the
        // reference); the backward bit for bit (the same arithmetic).
        let (fused_p, fused_m) = loss::softmax_mean_rows(g, &upload(&[rows, cols], &z)).unwrap();
        assert_tensor(
            &format!("{case} fused softmax"),
            &fused_p,
            &want,
            Tolerance::TRANSCENDENTAL,
        );
        assert_tensor(
            &format!("{case} fused mean"),
            &fused_m,
            &reference::mean_rows(&want, rows, cols),
            Tolerance::ACCUMULATED,
        );
        let fused_back = loss::softmax_mean_rows_backward(g, &p, &upload(&[cols], &dm)).unwrap();
        let apart = loss::softmax_rows_backward(g, &p, &back).unwrap();
        let bits = |t: &Tensor| download(t).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused_back), bits(&apart), "{case} fused backward");
        assert_tensor(
            &format!("{case} fused backward"),
            &fused_back,
            &reference::loss::softmax_backward(&want, &want_back, cols),
            Tolerance::TRANSCENDENTAL,
        );
    }
}

#[test]
fn clip_scale_slices_and_concat() {
    let g = gpu();
    let scale = |sq: f32, max: f32| {
        download(&elementwise::clip_scale(g, &upload(&[1], &[sq]), max).unwrap())[0]
    };
    assert_eq!(scale(4.0, 5.0), 1.0);
    assert!((scale(100.0, 5.0) - 0.5).abs() < 1e-6);
    let t = upload(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(download(&t.slice(g, 2, 3).unwrap()), vec![3.0, 4.0, 5.0]);
    assert!(t.slice(g, 4, 3).is_err());
    let joined = Tensor::concat(g, &[&upload(&[1], &[9.0]), &t, &upload(&[1], &[7.0])]).unwrap();
    assert_eq!(
        download(&joined),
        vec![9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    );
    let s = reduce::sum_backward(g, &upload(&[1], &[2.5]), &[2, 2]).unwrap();
    assert_eq!(download(&s), vec![2.5; 4]);
}

#[test]
fn sum_rows_matches_reference() {
    let g = gpu();
    let mut r = rng(17);
    for (rows, cols) in [(1usize, 1usize), (7, 300), (64, 18_432), (3, 70_000)] {
        let x = random(&mut r, rows * cols);
        let got = reduce::sum_rows(g, &upload(&[rows, cols], &x)).unwrap();
        let want: Vec<f64> = (0..cols)
            .map(|c| (0..rows).map(|row| x[row * cols + c] as f64).sum())
            .collect();
        assert_tensor(
            &format!("sum_rows {rows}x{cols}"),
            &got,
            &want,
            Tolerance::ACCUMULATED,
        );
    }
}

#[test]
fn batch_norm_statistics_hold_for_a_large_mean_and_a_small_spread() {
    // One pass over x: a sum of squares about zero would lose the variance of values
    // near 100 with a spread of 0.01 to cancellation; about a shift it must not.
    let g = gpu();
    let mut r = rng(22);
    for (n, c, inner, offset, spread) in [
        (32usize, 3usize, 37usize, 100.0f32, 0.01f32),
        (5, 2, 1, -40.0, 0.5),
    ] {
        let x: Vec<f32> = random(&mut r, n * c * inner)
            .iter()
            .map(|v| offset + spread * v)
            .collect();
        let stats = norm::batch_norm_stats(g, &upload(&[n, c, inner, 1], &x), None).unwrap();
        let (mean, var) = reference::batch_norm::batch_stats(&widen(&x), n, c, inner);
        let case = format!("stats [{n}, {c}, {inner}] around {offset}");
        assert_tensor(
            &format!("{case} mean"),
            &stats.mean,
            &mean,
            Tolerance::ACCUMULATED,
        );
        // Relative to the variance itself (spread^2 / 3, about 3e-5 for 0.01).
        let got = download(&stats.var);
        for (k, (&v, &want)) in got.iter().zip(&var).enumerate() {
            assert!(
                ((v as f64) - want).abs() <= 1e-3 * want,
                "{case} variance of channel {k}: gpu {v} vs reference {want}"
            );
        }
    }
}

#[test]
fn fused_batch_norm_relu_max_pool_matches_the_three_ops() {
    // Forward: the 2x2 stride-2 max pool of relu(batch_norm(x)) against the f64 reference,
    // and its argmax and output against the pool kernel run on the unfused kernel's ReLU
    // output (ties at 0 are common after ReLU, so the first-scanned rule must match
    // exactly). Backward: dx, dgamma, dbeta for a gradient of the pooled output, against
    // the reference's pool backward, ReLU mask and batch-norm backward, in training and
    // with fixed statistics.
    let g = gpu();
    let mut r = rng(23);
    let spec = Pool2dSpec::new(2, 2, 0);
    // Planes of fewer windows than a row of lanes takes at a time (8) and of more, non-square,
    // and a batch that the kernels split into runs of images (1024 windows or more each).
    for shape in [
        [3usize, 2, 2, 2],
        [2, 3, 18, 22],
        [4, 5, 6, 40],
        [7, 2, 40, 36],
    ] {
        for batch_stats in [true, false] {
            let case = format!("batch_norm+relu+max_pool {shape:?} batch_stats={batch_stats}");
            let op = GpuOp {
                forward: Box::new(|t: &[Tensor]| {
                    let stats = norm::batch_norm_stats(gpu(), &t[0], None).unwrap();
                    let pooled =
                        norm::batch_norm_relu_max_pool(gpu(), &t[0], &stats, &t[1], &t[2], BN_EPS);
                    (stats, pooled.unwrap())
                }),
                output: |(_, pooled): &(norm::BatchStats, pool::MaxPoolOutput)| &pooled.output,
                backward: Box::new(move |t: &[Tensor], (stats, pooled), dy| {
                    let grads = norm::batch_norm_relu_max_pool_backward(
                        gpu(),
                        &t[0],
                        pooled,
                        dy,
                        stats,
                        &t[1],
                        BN_EPS,
                        batch_stats,
                    )
                    .unwrap();
                    vec![grads.input, grads.gamma, grads.beta]
                }),
            };
            let inputs = batch_norm_inputs(&mut r, &shape, 2.0, -0.3);
            let (stats, pooled) = check_op_on(
                &case,
                &mut r,
                &inputs,
                Tolerance::ACCUMULATED,
                &op,
                batch_norm_reference(&shape, AfterNorm::ReluMaxPool(spec), batch_stats),
            );
            let [tx, tg, tb] = [0, 1, 2].map(|i| upload(&inputs[i].shape, &inputs[i].values));
            let y = norm::batch_norm_apply(g, &tx, &stats, &tg, &tb, BN_EPS, true).unwrap();
            let separate = pool::max_pool2d(g, &y, spec).unwrap();
            assert_eq!(
                pooled.argmax.to_vec(g).unwrap(),
                separate.argmax.to_vec(g).unwrap(),
                "{case} argmax"
            );
            assert_eq!(
                download(&pooled.output),
                download(&separate.output),
                "{case}"
            );
        }
    }
    // Odd sizes are refused (the tape runs the two kernels for them).
    let eps = BN_EPS;
    let odd = upload(&[1, 1, 3, 4], &[0.0; 12]);
    let stats = norm::batch_norm_stats(g, &odd, None).unwrap();
    let ones = upload(&[1], &[1.0]);
    assert!(norm::batch_norm_relu_max_pool(g, &odd, &stats, &ones, &ones, eps).is_err());
    let even = upload(&[1, 1, 2, 2], &[0.0; 4]);
    let pooled = norm::batch_norm_relu_max_pool(g, &even, &stats, &ones, &ones, eps).unwrap();
    assert!(norm::batch_norm_relu_max_pool_backward(
        g,
        &odd,
        &pooled,
        &pooled.output,
        &stats,
        &ones,
        eps,
        true
    )
    .is_err());
}
