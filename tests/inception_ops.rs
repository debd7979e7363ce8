//! The ops Inception-ResNet adds to the engine: channel concatenation (and the channel
//! slice its backward takes) and the scaled residual join. Kernels against the f64 CPU
//! reference on seeded random inputs with NaN-poisoned outputs, through the tape both
//! ways; finite differences confirm the reference.

mod common;

use common::op::{check_op, Expected, GpuOp};
use common::{
    assert_tensor, check_gradient, dot, download, gpu, random, rng, upload, widen, Tolerance,
};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::gpu::Tensor;
use facemtl::kernels::{channels, elementwise};
use facemtl::reference::channels as reference;

/// Parts of one concatenation: (channels of each part, n, h, w). Planes of odd sizes and
/// parts whose sample sizes are not multiples of the 256-wide workgroup.
fn concat_cases() -> Vec<(Vec<usize>, usize, usize, usize)> {
    vec![
        (vec![1], 1, 1, 1),
        (vec![3, 5], 2, 7, 9),
        (vec![32, 32, 32], 3, 5, 5),
        (vec![7, 1, 13, 2], 4, 3, 3),
        (vec![300, 17], 2, 1, 1),
    ]
}

#[test]
fn concat_channels_and_its_slices_match_reference() {
    let g = gpu();
    let mut r = rng(300);
    for (counts, n, h, w) in concat_cases() {
        let plane = h * w;
        let values: Vec<Vec<f32>> = counts
            .iter()
            .map(|c| random(&mut r, n * c * plane))
            .collect();
        let tensors: Vec<Tensor> = counts
            .iter()
            .zip(&values)
            .map(|(&c, v)| upload(&[n, c, h, w], v))
            .collect();
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let whole = channels::concat_channels(g, &refs).unwrap();
        let total: usize = counts.iter().sum();
        let case = format!("concat {counts:?} n={n} {h}x{w}");
        assert_eq!(whole.shape(), &[n, total, h, w], "{case}");
        let wide: Vec<Vec<f64>> = values.iter().map(|v| widen(v)).collect();
        let parts: Vec<(&[f64], usize)> = wide.iter().map(|v| &v[..]).zip(counts.clone()).collect();
        let want = reference::concat_channels(&parts, n, plane);
        // A copy: exact.
        assert_tensor(&case, &whole, &want, Tolerance { abs: 0.0, rel: 0.0 });
        let mut start = 0;
        for (k, &c) in counts.iter().enumerate() {
            let slice = channels::channel_slice(g, &whole, start, c).unwrap();
            assert_eq!(download(&slice), values[k], "{case}: slice of part {k}");
            let want = reference::channel_slice(&want, n, total, plane, start, c);
            assert_eq!(want, wide[k], "{case}: reference slice of part {k}");
            start += c;
        }
    }
}

#[test]
fn concat_channels_refuses_parts_that_differ_beyond_channels() {
    let g = gpu();
    let a = Tensor::zeros(g, &[2, 3, 4, 4]).unwrap();
    let b = Tensor::zeros(g, &[2, 3, 4, 5]).unwrap();
    let err = channels::concat_channels(g, &[&a, &b])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("part 2") && err.contains("[2, 3, 4, 5]"),
        "{err}"
    );
    let flat = Tensor::zeros(g, &[2, 3]).unwrap();
    assert!(channels::concat_channels(g, &[&flat]).is_err());
    assert!(channels::concat_channels(g, &[]).is_err());
    let err = channels::channel_slice(g, &a, 2, 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("channels 2..4"), "{err}");
}

#[test]
fn scaled_residual_forward_and_backward_match_reference() {
    let g = gpu();
    let mut r = rng(301);
    for (n, scale, relu) in [
        (1, 0.17, true),
        (4099, 0.10, true),
        (1000, 0.20, false),
        (257, 1.0, true),
    ] {
        let op = GpuOp {
            forward: Box::new(move |t: &[Tensor]| {
                elementwise::scaled_residual(g, &t[0], &t[1], scale, relu).unwrap()
            }),
            output: |y: &Tensor| y,
            backward: Box::new(move |_, y: &Tensor, dy| {
                let (dx, dr) =
                    elementwise::scaled_residual_backward(g, y, dy, scale, relu).unwrap();
                vec![dx, dr]
            }),
        };
        let case = format!("scaled residual n={n} scale={scale} relu={relu}");
        check_op(
            &case,
            &mut r,
            &[&[n], &[n]],
            Tolerance::ELEMENTWISE,
            &op,
            |t, dy| {
                let s = scale as f64;
                let (dx, dr) = reference::scaled_residual_backward(&t[0], &t[1], dy, s, relu);
                Expected {
                    output: reference::scaled_residual(&t[0], &t[1], s, relu),
                    grads: vec![dx, dr],
                }
            },
        );
    }
    let a = Tensor::zeros(g, &[3]).unwrap();
    let b = Tensor::zeros(g, &[4]).unwrap();
    assert!(elementwise::scaled_residual(g, &a, &b, 0.1, true).is_err());
}

#[test]
fn the_tape_concatenates_and_joins_both_ways() {
    // y = residual(x, concat(a, b)) with a, b, x inputs of the tape; the gradients of a
    // seed dy reach a and b through the slices and x through the mask.
    let g = gpu();
    let mut r = rng(302);
    let (n, h, w, ca, cb) = (3, 5, 4, 2, 3);
    let plane = h * w;
    let (a, b) = (
        random(&mut r, n * ca * plane),
        random(&mut r, n * cb * plane),
    );
    let x = random(&mut r, n * (ca + cb) * plane);
    let dy = random(&mut r, x.len());
    let store = ParamStore::new();
    let mut tape = Tape::new(g, &store, true, 0);
    let va = tape.input(upload(&[n, ca, h, w], &a));
    let vb = tape.input(upload(&[n, cb, h, w], &b));
    let vx = tape.input(upload(&[n, ca + cb, h, w], &x));
    let joined = tape.concat_channels(&[va, vb]).unwrap();
    let y = tape.scaled_residual(vx, joined, 0.17, true).unwrap();
    let seed = upload(&[n, ca + cb, h, w], &dy);
    let seeds = [(y, seed)];
    let grads: Vec<Tensor> = [va, vb, vx]
        .iter()
        .map(|&v| {
            tape.gradient_at(&seeds, v)
                .unwrap()
                .expect("the seed reaches every input")
        })
        .collect();

    let (a64, b64, x64) = (widen(&a), widen(&b), widen(&x));
    let cat = reference::concat_channels(&[(&a64, ca), (&b64, cb)], n, plane);
    let want_y = reference::scaled_residual(&x64, &cat, 0.17, true);
    assert_tensor("tape y", tape.value(y), &want_y, Tolerance::ELEMENTWISE);
    let (dx, dcat) = reference::scaled_residual_backward(&x64, &cat, &widen(&dy), 0.17, true);
    let da = reference::channel_slice(&dcat, n, ca + cb, plane, 0, ca);
    let db = reference::channel_slice(&dcat, n, ca + cb, plane, ca, cb);
    assert_tensor("tape da", &grads[0], &da, Tolerance::ELEMENTWISE);
    assert_tensor("tape db", &grads[1], &db, Tolerance::ELEMENTWISE);
    assert_tensor("tape dx", &grads[2], &dx, Tolerance::ELEMENTWISE);
}

#[test]
fn reference_concat_and_residual_match_finite_differences() {
    let mut r = rng(303);
    let (n, plane, ca, cb) = (2, 3, 2, 3);
    let a = widen(&random(&mut r, n * ca * plane));
    let b = widen(&random(&mut r, n * cb * plane));
    let proj = widen(&random(&mut r, n * (ca + cb) * plane));
    // The gradient of <proj, concat(a, b)> w.r.t. a is proj's slice of a's channels.
    let da = reference::channel_slice(&proj, n, ca + cb, plane, 0, ca);
    check_gradient("concat a", &a, &da, |a| {
        dot(
            &proj,
            &reference::concat_channels(&[(a, ca), (&b, cb)], n, plane),
        )
    });
    let db = reference::channel_slice(&proj, n, ca + cb, plane, ca, cb);
    check_gradient("concat b", &b, &db, |b| {
        dot(
            &proj,
            &reference::concat_channels(&[(&a, ca), (b, cb)], n, plane),
        )
    });
    // Values away from the ReLU's kink, so the central difference does not straddle it.
    let away = |v: Vec<f32>| -> Vec<f64> {
        widen(&v)
            .into_iter()
            .map(|v| if v.abs() < 1e-2 { 0.5 } else { v })
            .collect()
    };
    let x = away(random(&mut r, 40));
    let res = away(random(&mut r, 40));
    let proj = widen(&random(&mut r, 40));
    for relu in [true, false] {
        let (dx, dres) = reference::scaled_residual_backward(&x, &res, &proj, 0.2, relu);
        check_gradient("residual x", &x, &dx, |x| {
            dot(&proj, &reference::scaled_residual(x, &res, 0.2, relu))
        });
        check_gradient("residual r", &res, &dres, |rv| {
            dot(&proj, &reference::scaled_residual(&x, rv, 0.2, relu))
        });
    }
}
