//! Training end to end on the device: learning a toy problem, flat memory over many steps,
//! one submission per step, detach, and optimiser updates on hand-computed numbers.

mod common;

use common::toy::ToyRun;
use common::{
    assert_close, assert_flat_memory_and_one_submission, download, gpu, own_gpu, random, rng,
    upload, Tolerance,
};
use facemtl::autodiff::{Gradients, ParamId, ParamStore, Tape};
use facemtl::gpu::Tensor;
use facemtl::kernels::optim;
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
    let gpu = own_gpu();
    let mut run = ToyRun::new(&gpu, 3);
    assert_flat_memory_and_one_submission(&gpu, 50, |step| {
        run.step(16, step as u32);
    });
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
    let mut opt =
        Optimizer::new(g, &mut store, vec![p], kind, LrSchedule::Constant(lr), clip).unwrap();
    for _ in 0..steps {
        let mut tape = Tape::new(g, &store, true, 0);
        let v = tape.param(p);
        let grads = tape
            .backward(&[(v, upload(&[2], &[0.5, -2.0]))], &[p])
            .unwrap();
        opt.step(g, &grads).unwrap();
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

/// Parameters of lengths on both sides of a 256-element workgroup and of the views'
/// alignment, and not multiples of them.
const FLAT_LENGTHS: [usize; 11] = [1, 7, 256, 300, 1025, 64, 3, 5000, 9, 10, 513];

/// Which parameters get a gradient at `step`: all, or every one but 3 and 7 (two runs
/// split the group), or none but the first and the last.
fn flat_has_gradient(step: u32, k: usize) -> bool {
    match step {
        2 => k != 3 && k != 7,
        3 => k == 0 || k == FLAT_LENGTHS.len() - 1,
        _ => true,
    }
}

/// Random values of FLAT_LENGTHS, and a store holding them as parameters p0, p1, ...
fn flat_params(r: &mut rand::rngs::StdRng) -> (Vec<Vec<f32>>, ParamStore, Vec<ParamId>) {
    let initial: Vec<Vec<f32>> = FLAT_LENGTHS.iter().map(|&n| random(r, n)).collect();
    let mut store = ParamStore::new();
    let ids = initial
        .iter()
        .enumerate()
        .map(|(k, v)| store.add(&format!("p{k}"), upload(&[v.len()], v)).unwrap())
        .collect();
    (initial, store, ids)
}

#[test]
fn flat_optimizer_matches_one_update_per_tensor_bit_for_bit() {
    // The optimiser keeps its group in flat buffers and updates a run of parameters in
    // one dispatch; the parameters and both Adam moments must equal, to the bit, the
    // single-tensor kernel run on each parameter that has a gradient, and a parameter
    // without one must keep its values and state.
    let g = gpu();
    let mut r = rng(41);
    let adam = AdamConfig {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-3,
    };
    let (initial, mut store, ids) = flat_params(&mut r);
    let mut opt = Optimizer::new(
        g,
        &mut store,
        ids.clone(),
        OptimizerKind::Adam(adam),
        LrSchedule::Constant(adam.lr),
        None,
    )
    .unwrap();
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(
            download(store.get(id)),
            initial[k],
            "p{k} moved into the flat buffer"
        );
    }
    let single: Vec<[Tensor; 3]> = initial
        .iter()
        .map(|v| {
            let n = v.len();
            [
                upload(&[n], v),
                upload(&[n], &vec![0.0; n]),
                upload(&[n], &vec![0.0; n]),
            ]
        })
        .collect();
    let one = upload(&[1], &[1.0]);
    for step in 1..=3 {
        let mut pairs = Vec::new();
        for (k, &id) in ids.iter().enumerate() {
            if !flat_has_gradient(step, k) {
                continue;
            }
            let grad = upload(&[FLAT_LENGTHS[k]], &random(&mut r, FLAT_LENGTHS[k]));
            let [param, m, v] = &single[k];
            optim::adam_update(g, param, &grad, &one, m, v, adam, step).unwrap();
            pairs.push((id, grad));
        }
        opt.step(g, &Gradients::from_pairs(pairs)).unwrap();
    }
    let bits = |t: &Tensor| download(t).iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    for (k, &id) in ids.iter().enumerate() {
        let [param, m, v] = &single[k];
        assert_eq!(
            bits(store.get(id)),
            bits(param),
            "p{k} (length {})",
            FLAT_LENGTHS[k]
        );
        assert_eq!(bits(&opt.state()[k][0]), bits(m), "p{k}: first moment");
        assert_eq!(bits(&opt.state()[k][1]), bits(v), "p{k}: second moment");
    }
}

#[test]
fn flat_optimizer_clips_by_the_global_norm_of_every_gradient() {
    // SGD without momentum, clipping at a norm the gradients exceed: each parameter moves
    // by -lr * g * max_norm / |g|, the norm taken over all gradients of the step (two runs
    // at step 2), the parameters without a gradient not at all.
    let g = gpu();
    let mut r = rng(43);
    let (lr, max_norm) = (0.5, 0.25);
    let (initial, mut store, ids) = flat_params(&mut r);
    let sgd = OptimizerKind::Sgd(SgdConfig {
        lr,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let mut opt = Optimizer::new(
        g,
        &mut store,
        ids.clone(),
        sgd,
        LrSchedule::Constant(lr),
        Some(max_norm),
    )
    .unwrap();
    let mut want: Vec<Vec<f64>> = initial
        .iter()
        .map(|v| v.iter().map(|&x| x as f64).collect())
        .collect();
    for step in 1..=3 {
        let grads: Vec<Option<Vec<f32>>> = FLAT_LENGTHS
            .iter()
            .enumerate()
            .map(|(k, &n)| flat_has_gradient(step, k).then(|| random(&mut r, n)))
            .collect();
        let norm = grads
            .iter()
            .flatten()
            .flatten()
            .map(|&x| (x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(norm > 2.0 * max_norm as f64, "the test must clip");
        let factor = (max_norm as f64 / (norm + 1e-6)).min(1.0);
        for (k, grad) in grads.iter().enumerate() {
            if let Some(grad) = grad {
                for (p, &d) in want[k].iter_mut().zip(grad) {
                    *p -= lr as f64 * factor * d as f64;
                }
            }
        }
        let pairs = ids
            .iter()
            .zip(&grads)
            .filter_map(|(&id, grad)| Some((id, upload(&[grad.as_ref()?.len()], grad.as_ref()?))))
            .collect();
        opt.step(g, &Gradients::from_pairs(pairs)).unwrap();
    }
    for (k, &id) in ids.iter().enumerate() {
        assert_close(
            &format!("p{k}"),
            &download(store.get(id)),
            &want[k],
            Tolerance::TRANSCENDENTAL,
        );
    }
}

#[test]
fn a_parameter_joins_one_optimiser_group_only() {
    // A second optimiser over a parameter would update a copy the model no longer reads:
    // it is an error naming the parameter, and the first optimiser keeps working.
    let g = gpu();
    let mut store = ParamStore::new();
    let p = store
        .add("fc.weight", upload(&[3], &[1.0, 2.0, 3.0]))
        .unwrap();
    let sgd = OptimizerKind::Sgd(SgdConfig {
        lr: 0.5,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let schedule = LrSchedule::Constant(0.5);
    let mut first = Optimizer::new(g, &mut store, vec![p], sgd, schedule.clone(), None).unwrap();
    let err = Optimizer::new(g, &mut store, vec![p], sgd, schedule.clone(), None)
        .err()
        .expect("a second group over the same parameter")
        .to_string();
    assert!(
        err.contains("fc.weight") && err.contains("another optimiser"),
        "{err}"
    );
    let mut other = ParamStore::new();
    let q = other.add("q", upload(&[2], &[1.0, 1.0])).unwrap();
    let err = Optimizer::new(g, &mut other, vec![q, q], sgd, schedule.clone(), None)
        .err()
        .expect("a parameter listed twice")
        .to_string();
    assert!(err.contains("listed twice"), "{err}");
    let empty = Optimizer::new(
        g,
        &mut ParamStore::new(),
        vec![],
        sgd,
        schedule.clone(),
        None,
    );
    assert!(empty.is_ok(), "an empty group is allowed");
    let grads = Gradients::from_pairs(vec![(p, upload(&[3], &[2.0, 0.0, -2.0]))]);
    first.step(g, &grads).unwrap();
    assert_eq!(download(store.get(p)), vec![0.0, 2.0, 4.0]);
}
