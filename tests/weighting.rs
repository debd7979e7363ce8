//! The task-weighting methods on hand-computed numbers, and the weight unit's update moving
//! weight toward the harder task (and, for the naive baseline, away from it).

mod common;

use common::{download, gpu, upload};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::optim::{LrSchedule, Optimizer, OptimizerKind, SgdConfig};
use facemtl::weighting::{Dynamic, NaiveDynamic, Static, TaskWeighting, WeightingSpec};

#[test]
fn methods_give_the_documented_weights_and_unit_gradients() {
    let losses = [2.0f32, 0.5];
    let mut dynamic = Dynamic;
    assert_eq!(dynamic.weights(losses, Some([0.3, 0.7])), [0.3, 0.7]);
    // dL_w/dw_i = 1 / (L_i + 0.01): the paper's floor s = 0.01, written out here.
    let g = dynamic.unit_gradient(losses, [0.3, 0.7]).unwrap();
    approx::assert_relative_eq!(&g[..], &[1.0 / 2.01, 1.0 / 0.51][..], max_relative = 1e-6);
    assert_eq!(NaiveDynamic.unit_gradient(losses, [0.5, 0.5]), Some(losses));
    let mut fixed = Static([0.25, 0.75]);
    assert_eq!(fixed.weights(losses, None), [0.25, 0.75]);
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
    let mut tape = Tape::new(g, &store, true, 0);
    let zv = tape.param(z);
    let p = tape.softmax_rows(zv).unwrap();
    let w = tape.mean_rows(p).unwrap();
    let grads = tape.backward(&[(w, upload(&[2], &seed))], &[z]).unwrap();
    let dz = download(grads.get(z).unwrap());
    let sgd_kind = OptimizerKind::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let mut sgd = Optimizer::new(
        g,
        &store,
        vec![z],
        sgd_kind,
        LrSchedule::Constant(0.1),
        None,
    )
    .unwrap();
    sgd.step(g, &store, &grads).unwrap();
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
