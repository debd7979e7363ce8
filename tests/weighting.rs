//! The task-weighting methods on hand-computed numbers, and the weight unit's update moving
//! weight toward the harder task (and, for the naive baseline, away from it).

mod common;

use common::{download, gpu, upload};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::optim::{LrSchedule, Optimizer, OptimizerKind, SgdConfig};
use facemtl::weighting::{
    Dynamic, NaiveDynamic, RunContext, Static, StepView, TaskWeighting, WeightingSpec,
};

#[test]
fn methods_give_the_documented_weights_and_unit_gradients() {
    let losses = [2.0f32, 0.5];
    let mut dynamic = Dynamic;
    assert_eq!(
        dynamic.weights(&StepView::of(0, losses, Some([0.3, 0.7]))),
        [0.3, 0.7]
    );
    // dL_w/dw_i = 1 / (L_i + 0.01): the paper's floor s = 0.01, written out here.
    let g = dynamic.unit_gradient(losses, [0.3, 0.7]).unwrap();
    approx::assert_relative_eq!(&g[..], &[1.0 / 2.01, 1.0 / 0.51][..], max_relative = 1e-6);
    assert_eq!(NaiveDynamic.unit_gradient(losses, [0.5, 0.5]), Some(losses));
    let mut fixed = Static([0.25, 0.75]);
    assert_eq!(fixed.weights(&StepView::of(0, losses, None)), [0.25, 0.75]);
    assert!(fixed.unit_gradient(losses, [0.25, 0.75]).is_none() && !fixed.uses_unit());
    assert_eq!(
        WeightingSpec::parse("static:0.5,0.5").unwrap(),
        WeightingSpec::Static([0.5, 0.5])
    );
    assert_eq!(
        WeightingSpec::parse("dynamic").unwrap(),
        WeightingSpec::Dynamic
    );
    for bad in [
        "static:0.5",
        "static:a,b",
        "static:-1,2",
        "static:0,0",
        "dyn",
    ] {
        assert!(WeightingSpec::parse(bad).is_err(), "{bad}");
    }
}

/// One SGD step of a bare unit (logits z as a parameter, w = softmax(z)) on `method`'s
/// gradient for `losses`; returns (w before, gradient w.r.t. z, w after).
fn unit_step(method: &dyn TaskWeighting, losses: [f32; 2]) -> ([f32; 2], [f32; 2], [f32; 2]) {
    let g = gpu();
    let mut store = ParamStore::new();
    let z = store.add("unit.z", upload(&[1, 2], &[0.2, -0.1])).unwrap();
    let read_weights = |store: &ParamStore| {
        let mut tape = Tape::new(g, store, true, 0);
        let zv = tape.param(z);
        let p = tape.softmax_rows(zv).unwrap();
        let w = tape.mean_rows(p).unwrap();
        let v = download(tape.value(w));
        [v[0], v[1]]
    };
    let before = read_weights(&store);
    let seed = method.unit_gradient(losses, before).unwrap();
    let sgd_kind = OptimizerKind::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let mut sgd = Optimizer::new(
        g,
        &mut store,
        vec![z],
        sgd_kind,
        LrSchedule::Constant(0.1),
        None,
    )
    .unwrap();
    let mut tape = Tape::new(g, &store, true, 0);
    let zv = tape.param(z);
    let p = tape.softmax_rows(zv).unwrap();
    let w = tape.mean_rows(p).unwrap();
    let grads = tape.backward(&[(w, upload(&[2], &seed))], &[z]).unwrap();
    let dz = download(grads.get(z).unwrap());
    sgd.step(g, &grads).unwrap();
    drop(tape);
    let after = read_weights(&store);
    (before, [dz[0], dz[1]], after)
}

#[test]
fn the_unit_update_moves_weight_to_the_harder_task() {
    // FR is harder (larger loss): dL_w/dz_FR = w_FR w_FER (1/(L_FR+s) - 1/(L_FER+s)) < 0.
    let losses = [2.0f32, 0.5];
    let (before, dz, after) = unit_step(&Dynamic, losses);
    let s = 0.01;
    let expected = before[0] * before[1] * (1.0 / (losses[0] + s) - 1.0 / (losses[1] + s));
    approx::assert_abs_diff_eq!(&dz[..], &[expected, -expected][..], epsilon = 1e-5);
    assert!(
        after[0] > before[0],
        "w_FR should rise: {before:?} -> {after:?}"
    );
    // Swap the difficulty and the weight moves the other way.
    let (before, _, after) = unit_step(&Dynamic, [0.5, 2.0]);
    assert!(after[1] > before[1]);
    // The naive baseline (unit trained on L_total) moves weight to the easier task.
    let (before, _, after) = unit_step(&NaiveDynamic, losses);
    assert!(
        after[0] < before[0],
        "naive-dynamic should lower w_FR: {before:?} -> {after:?}"
    );
}

fn step(index: u64, losses: [f32; 2], accuracy: [Option<f32>; 2]) -> StepView {
    StepView {
        accuracy,
        ..StepView::of(index, losses, None)
    }
}

fn build(spec: &str, steps_per_epoch: usize) -> Box<dyn TaskWeighting> {
    WeightingSpec::parse(spec).unwrap().build(RunContext {
        seed: 7,
        steps_per_epoch,
        unit_lr: 0.1,
    })
}

fn close(got: [f32; 2], want: [f32; 2]) {
    approx::assert_abs_diff_eq!(&got[..], &want[..], epsilon = 1e-5);
}

#[test]
fn uncertainty_weighs_the_larger_loss_less_as_its_log_variance_grows() {
    let mut m = build("uncertainty", 10);
    // s = (0, 0): equal weights; then SGD (lr 0.1) on 0.5 (1 - exp(-s) L): s = (0.05, -0.025).
    close(m.weights(&step(0, [2.0, 0.5], [None; 2])), [0.5, 0.5]);
    close(m.state().try_into().unwrap(), [0.05, -0.025]);
    // Weights exp(-s) normalised: (e^-0.05, e^0.025) / sum.
    close(
        m.weights(&step(1, [2.0, 0.5], [None; 2])),
        [0.481_259, 0.518_741],
    );
}

#[test]
fn dwa_follows_the_ratio_of_the_last_two_epoch_losses() {
    let mut m = build("dwa", 2);
    // Epoch 0 means (2, 1), epoch 1 means (1, 1): equal weights until both are known.
    for (i, losses) in [[1.0, 1.0], [3.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
        .iter()
        .enumerate()
    {
        close(m.weights(&step(i as u64, *losses, [None; 2])), [0.5, 0.5]);
    }
    // r = (1/2, 1/1), softmax(r / 2): FR, whose loss halved, weighs less.
    close(
        m.weights(&step(4, [1.0, 1.0], [None; 2])),
        [0.437_823, 0.562_177],
    );
}

#[test]
fn dtp_gives_the_less_accurate_task_the_focal_weight() {
    let mut m = build("dtp", 10);
    // k = (0.9, 0.5): -(1 - k) ln k = (0.01054, 0.34657), normalised.
    close(
        m.weights(&step(0, [1.0, 1.0], [Some(0.9), Some(0.5)])),
        [0.029_504, 0.970_496],
    );
    // FR's smoothed accuracy 0.9 * 0.9 + 0.1 * 0.5 = 0.86; FER keeps 0.5 (no labels).
    close(
        m.weights(&step(1, [1.0, 1.0], [Some(0.5), None])),
        [0.057_427, 0.942_573],
    );
}

#[test]
fn famo_weights_by_inverse_loss_and_moves_toward_the_task_that_improved_less() {
    let mut m = build("famo", 10);
    // z = (0.5, 0.5): weights z_i / (L_i + 0.001), which sum to 1.
    close(
        m.weights(&step(0, [2.0, 0.5], [None; 2])),
        [0.200_240, 0.799_760],
    );
    // FR's log loss fell by 0.69, FER's by 0.11: Adam's first step (0.025 each way) moves
    // xi to (-0.025, 0.025); weights softmax(xi)_i / (L_i + 0.001), normalised.
    close(
        m.weights(&step(1, [1.0, 0.45], [None; 2])),
        [0.300_002, 0.699_998],
    );
}

#[test]
fn rlw_draws_fresh_weights_each_step_and_the_same_ones_again_for_the_same_step() {
    let mut a = build("rlw", 10);
    let mut b = build("rlw", 10);
    let draws: Vec<[f32; 2]> = (0..50)
        .map(|i| a.weights(&step(i, [1.0; 2], [None; 2])))
        .collect();
    for (i, w) in draws.iter().enumerate() {
        approx::assert_abs_diff_eq!(w[0] + w[1], 1.0, epsilon = 1e-6);
        assert!(w[0] > 0.0 && w[1] > 0.0);
        assert_eq!(
            *w,
            b.weights(&step(i as u64, [5.0; 2], [None; 2])),
            "step {i}"
        );
    }
    let mean = draws.iter().map(|w| w[0]).sum::<f32>() / draws.len() as f32;
    assert!(
        draws.iter().any(|w| (w[0] - draws[0][0]).abs() > 0.05),
        "{draws:?}"
    );
    assert!((0.35..0.65).contains(&mean), "mean w_FR {mean}");
}

#[test]
fn gradnorm_moves_weight_toward_the_task_that_trains_slower_and_balances_gradient_norms() {
    let mut m = build("gradnorm", 10);
    let with = |index, losses, norms| StepView {
        layer_gradient_norms: Some(norms),
        ..step(index, losses, [None; 2])
    };
    // Step 0 fixes L(0) = (2, 1), so both tasks train at rate 1 and the targets are the
    // mean weighted norm: G = 0.5 (3, 1), target 1. dL_grad/dw = (+3, -1) / mean norm 2,
    // w = (0.5 - 0.01 * 1.5, 0.5 + 0.01 * 0.5) = (0.485, 0.505), renormalised by 0.99.
    close(m.weights(&with(0, [2.0, 1.0], [3.0, 1.0])), [0.5, 0.5]);
    // The step's weights are those before its update.
    let w1 = [0.485 / 0.99, 0.505 / 0.99];
    // Step 1: equal norms; L/L(0) = (0.5, 0.9): FR trains faster, r = (0.5, 0.9) / 0.7, so
    // FR's target is below its G and FER's above: w moves 0.01 from FR to FER.
    close(m.weights(&with(1, [1.0, 0.9], [1.0, 1.0])), w1);
    close(
        m.weights(&with(2, [1.0, 0.9], [1.0, 1.0])),
        [w1[0] - 0.01, w1[1] + 0.01],
    );
    // Without the norms (not computed) the weights stay where they are.
    let state = m.state();
    let w3 = m.weights(&step(3, [1.0, 0.9], [None; 2]));
    assert_eq!(m.state(), state);
    close(m.weights(&step(4, [1.0, 0.9], [None; 2])), w3);
    assert!(m.wants_layer_gradient_norms());
}

#[test]
fn every_method_resumes_from_its_saved_state_exactly() {
    let steps: Vec<StepView> = (0..12)
        .map(|i| {
            let x = i as f32;
            StepView {
                layer_gradient_norms: Some([1.0 + 0.1 * x, 2.0 - 0.1 * x]),
                ..step(
                    i,
                    [2.0 / (1.0 + x), 1.0 - 0.05 * x],
                    [Some(0.1 + 0.05 * x), Some(0.3)],
                )
            }
        })
        .collect();
    for spec in [
        "uncertainty",
        "dwa",
        "rlw",
        "dtp",
        "famo",
        "gradnorm",
        "dynamic",
        "static:0.3,0.7",
    ] {
        let mut straight = build(spec, 3);
        let all: Vec<[f32; 2]> = steps.iter().map(|s| straight.weights(s)).collect();
        let mut first = build(spec, 3);
        for s in &steps[..5] {
            first.weights(s);
        }
        let mut resumed = build(spec, 3);
        resumed.restore(&first.state()).unwrap();
        let rest: Vec<[f32; 2]> = steps[5..].iter().map(|s| resumed.weights(s)).collect();
        assert_eq!(rest, all[5..], "{spec}");
        assert_eq!(WeightingSpec::parse(spec).unwrap().to_string(), spec);
    }
    assert!(build("dwa", 3).restore(&[5.0]).is_err());
    assert!(build("famo", 3).restore(&[1.0, 2.0]).is_err());
    assert!(build("gradnorm", 3).restore(&[1.0, 2.0]).is_err());
}

#[test]
fn mgda_takes_the_min_norm_point_between_the_two_gradients() {
    let mut m = build("mgda", 10);
    let with = |dots: [f32; 3]| StepView {
        shared_gradients: Some(dots),
        ..step(0, [1.0, 1.0], [None; 2])
    };
    // Orthogonal, |g_1|^2 = 4, |g_2|^2 = 1: alpha = (1 - 0) / (4 + 1 - 0) = 0.2.
    close(m.weights(&with([4.0, 1.0, 0.0])), [0.2, 0.8]);
    // g_1 . g_2 = 1.5 > |g_2|^2: the min-norm point is g_2 itself (alpha clipped to 0).
    close(m.weights(&with([4.0, 1.0, 1.5])), [0.0, 1.0]);
    // Equal gradients: every combination is the same; equal weights.
    close(m.weights(&with([1.0, 1.0, 1.0])), [0.5, 0.5]);
    // Without the gradients (not computed): equal weights.
    close(m.weights(&step(0, [1.0, 1.0], [None; 2])), [0.5, 0.5]);
}

/// Trains a bare unit (free logits z, w = softmax(z); SGD at 0.5 on the method's
/// dL_w/dw) for `steps` steps on `losses(t)`; returns the unit's final weights.
fn settle(
    method: &mut dyn TaskWeighting,
    losses: impl Fn(u64) -> [f32; 2],
    steps: u64,
) -> [f64; 2] {
    let softmax = |z: [f64; 2]| {
        let e = [z[0].exp(), z[1].exp()];
        [e[0] / (e[0] + e[1]), e[1] / (e[0] + e[1])]
    };
    let mut z = [0.0f64; 2];
    for t in 0..steps {
        let w = softmax(z);
        let view = StepView::of(t, losses(t), Some([w[0] as f32, w[1] as f32]));
        let weights = method.weights(&view);
        let g = method
            .unit_gradient(losses(t), weights)
            .unwrap()
            .map(f64::from);
        let mean = g[0] * w[0] + g[1] * w[1];
        for j in 0..2 {
            z[j] -= 0.5 * w[j] * (g[j] - mean);
        }
    }
    softmax(z)
}

#[test]
fn balanced_weighs_tasks_by_progress_not_by_class_count_and_does_not_saturate() {
    // FR with 57 classes starts at ln 57 = 4.0, FER with 2 at ln 2 = 0.69; both fall at
    // the same relative pace. The paper's unit runs to FR (its loss is larger); balanced
    // keeps the tasks even.
    let same_pace = |t: u64| {
        [
            4.0 * 0.999f32.powi(t as i32),
            0.69 * 0.999f32.powi(t as i32),
        ]
    };
    let paper = settle(&mut Dynamic, same_pace, 2000);
    assert!(paper[0] > 0.95, "the paper's unit: {paper:?}");
    let even = settle(build("balanced", 10).as_mut(), same_pace, 2000);
    approx::assert_abs_diff_eq!(even[0], 0.5, epsilon = 0.02);

    // FR has come down to 0.8 of its start, FER to 0.4: FR is behind and gains weight,
    // to the interior optimum w_FR = 1 / (1 + exp(1/0.81 - 1/0.41)) = 0.769, not a bound.
    let uneven = |t: u64| if t < 10 { [4.0, 0.7] } else { [3.2, 0.28] };
    let mut m = build("balanced", 10);
    let w = settle(m.as_mut(), uneven, 3000);
    approx::assert_abs_diff_eq!(w[0], 0.7693, epsilon = 2e-3);
    // And the step's weights keep the floor: 0.1 + 0.8 w.
    let weights = m.weights(&StepView::of(3000, [3.2, 0.28], Some([1.0, 0.0])));
    close(weights, [0.9, 0.1]);
}
