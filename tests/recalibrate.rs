//! Batch-norm recalibration: after a pass over batches of unequal size, the running mean is
//! the mean over every image and the running variance the size-weighted mean of the
//! batches' unbiased variances, so eval-mode outputs equal a CPU normalisation with those
//! statistics; and on the whole network the pass replaces statistics left by training.

mod common;

use common::{download, gpu, random, rng, upload};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};
use facemtl::nn::BatchNorm2d;
use facemtl::train::recalibrate::{recalibrate_batch_norm, recalibrate_with};

const C: usize = 3;
const HW: usize = 5 * 4;

/// Per-channel mean and unbiased variance of x [n, C, 5, 4], in f64.
fn channel_stats(x: &[f32], n: usize) -> (Vec<f64>, Vec<f64>) {
    let values =
        |c: usize| (0..n).flat_map(move |i| (0..HW).map(move |k| x[(i * C + c) * HW + k] as f64));
    let count = (n * HW) as f64;
    let mean: Vec<f64> = (0..C).map(|c| values(c).sum::<f64>() / count).collect();
    let var = (0..C)
        .map(|c| values(c).map(|v| (v - mean[c]).powi(2)).sum::<f64>() / (count - 1.0))
        .collect();
    (mean, var)
}

#[test]
fn statistics_are_the_size_weighted_means_over_the_batches() {
    let g = gpu();
    let mut store = ParamStore::new();
    let bn = BatchNorm2d::new(g, &mut store, "bn", C).unwrap();
    store.set(g, bn.gamma, &[1.5, 0.5, -2.0]).unwrap();
    store.set(g, bn.beta, &[0.1, -0.2, 0.3]).unwrap();
    // Statistics left by "training": far from the data's.
    store.set(g, bn.running_mean, &[9.0, -9.0, 4.0]).unwrap();
    store.set(g, bn.running_var, &[0.01, 50.0, 7.0]).unwrap();
    let mut r = rng(21);
    // Batches of 7, 5 and 2 images, each shifted differently, so the batches' statistics
    // differ and equal weights would give another answer.
    let sizes = [7usize, 5, 2];
    let batches: Vec<Vec<f32>> = sizes
        .iter()
        .zip([0.0f32, 2.0, -3.0])
        .map(|(&n, shift)| {
            random(&mut r, n * C * HW)
                .iter()
                .map(|v| v + shift)
                .collect()
        })
        .collect();
    recalibrate_with(
        g,
        &store,
        batches
            .iter()
            .zip(sizes)
            .map(|(x, n)| Ok(upload(&[n, C, 5, 4], x))),
        |tape: &mut Tape, x| {
            let x = tape.input(x);
            bn.forward(tape, x).map(|_| ())
        },
    )
    .unwrap();

    let total: usize = sizes.iter().sum();
    let all: Vec<f32> = batches.concat();
    let (global_mean, _) = channel_stats(&all, total);
    let mut want_var = [0.0f64; C];
    for (x, &n) in batches.iter().zip(&sizes) {
        let (_, var) = channel_stats(x, n);
        for c in 0..C {
            want_var[c] += var[c] * n as f64 / total as f64;
        }
    }
    let got_mean = download(store.get(bn.running_mean));
    let got_var = download(store.get(bn.running_var));
    for c in 0..C {
        approx::assert_abs_diff_eq!(got_mean[c] as f64, global_mean[c], epsilon = 1e-5);
        approx::assert_relative_eq!(got_var[c] as f64, want_var[c], max_relative = 1e-5);
    }

    // Eval-mode outputs normalise with exactly those statistics.
    let probe = random(&mut r, 2 * C * HW);
    let mut tape = Tape::new(g, &store, false, 0);
    let x = tape.input(upload(&[2, C, 5, 4], &probe));
    let y = bn.forward(&mut tape, x).unwrap();
    let got = download(tape.value(y));
    let (gamma, beta) = ([1.5f64, 0.5, -2.0], [0.1f64, -0.2, 0.3]);
    for (k, (&x, &y)) in probe.iter().zip(&got).enumerate() {
        let c = (k / HW) % C;
        let want = gamma[c] * (x as f64 - global_mean[c]) / (want_var[c] + 1e-5).sqrt() + beta[c];
        approx::assert_abs_diff_eq!(y as f64, want, epsilon = 1e-4);
    }
}

#[test]
fn the_network_pass_replaces_training_statistics_with_the_clean_images() {
    // On the small preset: the pass's statistics do not depend on what training left
    // (the first batch replaces them outright), and they are finite.
    let g = gpu();
    let mut store = ParamStore::new();
    let net = MultiTaskNet::new(g, &mut store, Preset::Small, 4, 7, 2).unwrap();
    let data = facemtl::data::synthetic::generate(&facemtl::data::synthetic::SyntheticConfig {
        subjects: 2,
        images_per_expression: 1,
        ..Default::default()
    });
    let images: Vec<usize> = (0..data.samples.len()).collect();
    let mean_id = store.find("trunk.block1.1.bn.running_mean").unwrap();
    let poisoned = vec![123.0; store.get(mean_id).len()];
    store.set(g, mean_id, &poisoned).unwrap();
    recalibrate_batch_norm(g, &net, &store, &data, &images).unwrap();
    let after = download(store.get(mean_id));
    assert!(
        after.iter().all(|v| v.is_finite() && v.abs() < 50.0),
        "{after:?}"
    );
    // Other statistics (poisoned, then moved by a training forward), the same pass: the
    // same statistics.
    store.set(g, mean_id, &poisoned).unwrap();
    let _ = net
        .forward(
            &mut Tape::new(g, &store, true, 0),
            upload(&[2, 1, 48, 48], &[0.5; 2 * 48 * 48]),
            ForwardOptions {
                unit: false,
                detach_unit_input: true,
            },
        )
        .unwrap();
    recalibrate_batch_norm(g, &net, &store, &data, &images).unwrap();
    assert_eq!(download(store.get(mean_id)), after);
}
