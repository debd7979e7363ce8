//! Training end to end on the device: learning a toy problem, flat memory over many steps,
//! one submission per step, detach, and optimiser updates on hand-computed numbers.

mod common;

use common::toy::ToyRun;
use common::{download, gpu, upload};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::gpu::{Gpu, GpuOptions, Tensor};
use facemtl::optim::{AdamConfig, LrSchedule, Optimizer, OptimizerKind, RmsPropConfig, SgdConfig};

#[test]
fn toy_problem_is_learned_by_both_heads() {
    let mut run = ToyRun::new(gpu(), 7);
    let first = run.step(32, 0);
    let mut last = first;
    for step in 1..200 {
        last = run.step(32, step);
    }
    assert!(
        last[0] < first[0] * 0.5 && last[1] < first[1] * 0.5,
        "losses fell too little: {first:?} -> {last:?}"
    );
    let [quadrant, size] = run.accuracy(256);
    assert!(quadrant >= 0.9, "quadrant accuracy {quadrant}");
    assert!(size >= 0.9, "size accuracy {size}");
}

#[test]
fn memory_is_flat_and_each_step_is_one_submission() {
    // A device of its own, so no other test's tensors show in its byte counts.
    let gpu = Gpu::new(&GpuOptions {
        adapter: None,
        quiet: true,
    })
    .unwrap();
    let mut run = ToyRun::new(&gpu, 3);
    run.step(16, 0);
    run.step(16, 1);
    gpu.flush();
    let after_two = gpu.memory();
    let (submits_before, _) = gpu.counters();
    for step in 2..50 {
        run.step(16, step);
    }
    gpu.flush();
    let after_fifty = gpu.memory();
    let (submits_after, _) = gpu.counters();
    assert_eq!(
        after_fifty.allocated_bytes, after_two.allocated_bytes,
        "device memory grew between step 2 and step 50"
    );
    assert_eq!(
        after_fifty.in_use_bytes, after_two.in_use_bytes,
        "live bytes grew between step 2 and step 50"
    );
    // The loss readback is the only submission a step makes: its backward and update are
    // recorded after it and go out with the next step's forward (the last ones with the
    // final flush).
    assert_eq!(submits_after - submits_before, 48 + 1);
}

#[test]
fn detach_stops_the_gradient() {
    let g = gpu();
    let mut store = ParamStore::new();
    let w0 = store.add("w0", upload(&[3, 4], &[0.1; 12])).unwrap();
    let w1 = store.add("w1", upload(&[2, 3], &[0.2; 6])).unwrap();
    let mut tape = Tape::new(g, &store, true, 0);
    let x = tape.input(upload(&[5, 4], &[1.0; 20]));
    let (p0, p1) = (tape.param(w0), tape.param(w1));
    let h = tape.linear(x, p0, None).unwrap();
    let detached = tape.detach(h);
    let y = tape.linear(detached, p1, None).unwrap();
    let loss = tape.sum(y).unwrap();
    let grads = tape
        .backward(&[(loss, upload(&[1], &[1.0]))], &[w0, w1])
        .unwrap();
    assert!(grads.get(w0).is_none(), "a gradient crossed the detach");
    // Without the detach both get one (same graph, h used directly).
    let y2 = tape.linear(h, p1, None).unwrap();
    let loss2 = tape.sum(y2).unwrap();
    let grads = tape
        .backward(&[(loss2, upload(&[1], &[1.0]))], &[w0, w1])
        .unwrap();
    let d0 = download(grads.get(w0).expect("w0 gradient"));
    // d loss / d w0[i, j] = sum over batch and outputs of w1[o, i] * x[b, j] = 5 * 2 * 0.2.
    assert!(d0.iter().all(|v| (v - 2.0).abs() < 1e-5), "{d0:?}");
}

/// One parameter [1, 1] and gradient [0.5, -2.0]: the update after `steps` steps.
fn run_optimizer(kind: OptimizerKind, steps: usize, clip: Option<f32>) -> Vec<f32> {
    let g = gpu();
    let mut store = ParamStore::new();
    let p = store.add("p", upload(&[2], &[1.0, 1.0])).unwrap();
    let lr = match kind {
        OptimizerKind::Sgd(c) => c.lr,
        OptimizerKind::Adam(c) => c.lr,
        OptimizerKind::RmsProp(c) => c.lr,
    };
    let mut opt = Optimizer::new(g, &store, vec![p], kind, LrSchedule::Constant(lr), clip).unwrap();
    for _ in 0..steps {
        let mut tape = Tape::new(g, &store, true, 0);
        let v = tape.param(p);
        let grads = tape
            .backward(&[(v, upload(&[2], &[0.5, -2.0]))], &[p])
            .unwrap();
        opt.step(g, &store, &grads).unwrap();
    }
    download(store.get(p))
}

fn assert_values(what: &str, got: &[f32], want: &[f64]) {
    let got: Vec<f64> = got.iter().map(|&g| g as f64).collect();
    assert_eq!(got.len(), want.len(), "{what}: got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        approx::assert_abs_diff_eq!(g, w, epsilon = 1e-6);
    }
}

#[test]
fn optimizer_updates_equal_hand_computed_numbers() {
    let sgd = OptimizerKind::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
    });
    // v1 = g, p1 = 1 - 0.1 g; v2 = 1.9 g, p2 = p1 - 0.19 g.
    assert_values("sgd 1 step", &run_optimizer(sgd, 1, None), &[0.95, 1.2]);
    assert_values("sgd 2 steps", &run_optimizer(sgd, 2, None), &[0.855, 1.58]);
    // Weight decay adds wd * p to the gradient: g' = [0.5 + 0.1, -2 + 0.1].
    let sgd_wd = OptimizerKind::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.0,
        weight_decay: 0.1,
    });
    assert_values(
        "sgd weight decay",
        &run_optimizer(sgd_wd, 1, None),
        &[0.94, 1.19],
    );
    // Adam's first step moves by lr * g / (|g| + eps) = lr * sign(g).
    let adam = OptimizerKind::Adam(AdamConfig {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    });
    assert_values("adam 1 step", &run_optimizer(adam, 1, None), &[0.99, 1.01]);
    // RMSProp (TensorFlow's, mean square starting at 1): ms = 0.9 + 0.1 g^2,
    // mom = lr g / sqrt(ms + eps), p -= mom.
    let rms = OptimizerKind::RmsProp(RmsPropConfig {
        lr: 0.01,
        decay: 0.9,
        momentum: 0.9,
        eps: 1.0,
        weight_decay: 0.0,
    });
    let want = [
        1.0 - 0.01 * 0.5 / (0.925f64 + 1.0).sqrt(),
        1.0 + 0.01 * 2.0 / (1.3f64 + 1.0).sqrt(),
    ];
    assert_values("rmsprop 1 step", &run_optimizer(rms, 1, None), &want);
    // Clipping at global norm 1: |g| = sqrt(4.25), so g is scaled by 1 / sqrt(4.25).
    let plain = OptimizerKind::Sgd(SgdConfig {
        lr: 1.0,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let s = 1.0 / 4.25f64.sqrt();
    assert_values(
        "clipped sgd",
        &run_optimizer(plain, 1, Some(1.0)),
        &[1.0 - 0.5 * s, 1.0 + 2.0 * s],
    );
    assert_values(
        "unclipped below the norm",
        &run_optimizer(plain, 1, Some(10.0)),
        &[0.5, 3.0],
    );
}

#[test]
fn learning_rate_schedules() {
    let piecewise = LrSchedule::Piecewise {
        boundaries: vec![10, 20],
        values: vec![1e-2, 1e-3, 1e-4],
    };
    assert_eq!(
        [
            piecewise.at(0),
            piecewise.at(9),
            piecewise.at(10),
            piecewise.at(25)
        ],
        [1e-2, 1e-2, 1e-3, 1e-4]
    );
    let cosine = LrSchedule::Cosine {
        base: 1.0,
        min: 0.0,
        total_steps: 100,
    };
    assert!(
        (cosine.at(0) - 1.0).abs() < 1e-6
            && (cosine.at(50) - 0.5).abs() < 1e-6
            && cosine.at(100).abs() < 1e-6
    );
    assert!(LrSchedule::Piecewise {
        boundaries: vec![5],
        values: vec![1.0]
    }
    .validate()
    .is_err());
    assert!(LrSchedule::Piecewise {
        boundaries: vec![5, 5],
        values: vec![1.0, 2.0, 3.0]
    }
    .validate()
    .is_err());
    let _ = Tensor::zeros(gpu(), &[1]).unwrap();
}

#[test]
fn center_loss_value_gradient_and_centre_update() {
    use facemtl::model::CenterLoss;
    let g = gpu();
    let mut store = ParamStore::new();
    let e = [1.0f32, 2.0, 3.0, -1.0, 0.0, 4.0, 9.0, 9.0, 9.0];
    let emb = store.add("emb", upload(&[3, 3], &e)).unwrap();
    let centers = CenterLoss::new(g, &mut store, 2, 3).unwrap();
    store
        .get(centers.centers)
        .write(g, &[0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
        .unwrap();
    let mut tape = Tape::new(g, &store, true, 0);
    let ev = tape.param(emb);
    // Third sample unlabelled for FR: it takes no part.
    let term = centers
        .loss(&mut tape, ev, &[0, 1, 0], &[1.0, 1.0, 0.0])
        .unwrap();
    // ||(1,2,2)||^2 = 9, ||(-2,-1,3)||^2 = 14: loss = 0.5 * 23 / 2.
    assert!((download(tape.value(term.loss))[0] - 5.75).abs() < 1e-5);
    let grads = tape
        .backward(&[(term.loss, upload(&[1], &[1.0]))], &[emb])
        .unwrap();
    let want = [0.5, 1.0, 1.0, -1.0, -0.5, 1.5, 0.0, 0.0, 0.0];
    assert_eq!(download(grads.get(emb).unwrap()), want);
    centers.update(&tape, &term).unwrap();
    // Wen et al.: c_j += 0.5 * sum (e - c_j) / (1 + n_j), one sample per class here:
    // (0,0,1) + 0.25 (1,2,2) = (0.25,0.5,1.5); (1,1,1) + 0.25 (-2,-1,3) = (0.5,0.75,1.75).
    assert_eq!(
        download(store.get(centers.centers)),
        vec![0.25, 0.5, 1.5, 0.5, 0.75, 1.75]
    );
}
