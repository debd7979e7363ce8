//! The training step through the code the trainer runs (`Learner::step`), for each way of
//! weighting the tasks: after one SGD step (momentum's first step is plain, no clipping or
//! decay) every parameter must have moved by exactly -lr times its gradient in a reference
//! built here from the tape and the network directly, parameters without a gradient must
//! stay put, and the centre update must follow Wen et al.'s rule with its 1 / (1 + n_j).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{gpu, random, rng, snapshot};
use facemtl::autodiff::{Tape, Var};
use facemtl::data::batches::Batch;
use facemtl::gpu::{Indices, Tensor};
use facemtl::model::{ForwardOptions, MultiTaskNet, Outputs, CENTER_LOSS_WEIGHT};
use facemtl::optim::LrSchedule;
use facemtl::train::config::{OptimizerName, ScheduleSpec, Tasks, TrainConfig};
use facemtl::train::Learner;
use facemtl::weighting::{Static, StepView, TaskWeighting, WeightingSpec};

const LR: f32 = 0.05;
const UNIT_LR: f32 = 0.5;
const FR_CLASSES: usize = 3;
const FER_CLASSES: usize = 7;
const DROPOUT_SEED: u32 = 11;

fn config(weighting: &WeightingSpec, weight_grad_to_trunk: bool, center_loss: bool) -> TrainConfig {
    TrainConfig {
        lr: LR,
        unit_lr: UNIT_LR,
        optimizer: OptimizerName::Sgd,
        schedule: ScheduleSpec::Constant,
        weight_decay: 0.0,
        clip_norm: None,
        weighting: weighting.clone(),
        weight_grad_to_trunk,
        center_loss,
        seed: 5,
        ..TrainConfig::default()
    }
}

fn learner(config: &TrainConfig) -> Learner {
    Learner::new(
        gpu(),
        config,
        [FR_CLASSES, FER_CLASSES],
        Tasks::Both,
        config.weighting.clone(),
        1,
    )
    .unwrap()
}

/// Six random 48x48 images; FR class 0 three times and class 1 twice (so the centre update's
/// 1 / (1 + n_j) matters), one image without an FR label, one without an FER label.
fn batch() -> Batch {
    let n = 6;
    Batch {
        indices: (0..n).collect(),
        images: random(&mut rng(3), n * 48 * 48),
        fr_labels: vec![0, 1, 0, 2, 1, 0],
        fr_mask: vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        fer_labels: vec![0, 3, 6, 2, 5, 1],
        fer_mask: vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
    }
}

/// Every parameter and buffer by name.
type Values = HashMap<String, Vec<f32>>;

/// What the step should do, computed from an untouched copy of the learner.
struct Reference {
    losses: [f32; 2],
    weights: [f32; 2],
    /// Gradients of the network's parameters (by name) and of the unit's.
    grads: HashMap<String, Vec<f32>>,
    /// The FR embeddings of the batch [6 x dim], for the centre update.
    embedding: Vec<f32>,
}

/// The forward pass of `batch()` on a fresh learner, recorded on a tape of its own, with
/// the two task losses (L_FR, L_FER).
fn record(
    fresh: &Learner,
    uses_unit: bool,
    weight_grad_to_trunk: bool,
) -> (Tape<'_>, Outputs, Var, Var) {
    let g = gpu();
    let b = batch();
    let n = b.len();
    let mut tape = Tape::new(g, &fresh.store, true, DROPOUT_SEED);
    let images = Tensor::from_slice(g, &[n, 1, 48, 48], &b.images).unwrap();
    let out = fresh
        .net
        .forward(
            &mut tape,
            images,
            ForwardOptions {
                unit: uses_unit,
                detach_unit_input: !weight_grad_to_trunk,
            },
        )
        .unwrap();
    let loss = |tape: &mut Tape, logits, labels: &[u32], mask: &[f32]| {
        tape.softmax_cross_entropy(
            logits,
            &Indices::from_slice(g, labels).unwrap(),
            &Tensor::from_slice(g, &[n], mask).unwrap(),
        )
        .unwrap()
    };
    let l_fr = loss(&mut tape, out.fr_logits, &b.fr_labels, &b.fr_mask);
    let l_fer = loss(&mut tape, out.fer_logits, &b.fer_labels, &b.fer_mask);
    (tape, out, l_fr, l_fer)
}

fn reference(fresh: &Learner, weighting: &WeightingSpec, weight_grad_to_trunk: bool) -> Reference {
    let g = gpu();
    let b = batch();
    let uses_unit = matches!(
        weighting,
        WeightingSpec::Dynamic | WeightingSpec::NaiveDynamic
    );
    let (mut tape, out, l_fr, l_fer) = record(fresh, uses_unit, weight_grad_to_trunk);
    let read = |tape: &Tape, v| tape.value(v).to_vec(g).unwrap();
    let losses = [read(&tape, l_fr)[0], read(&tape, l_fer)[0]];
    let weights = match (weighting, out.task_weights) {
        (WeightingSpec::Static(w), _) => *w,
        // GradNorm's first step uses its starting weights; the norms it reads move the next.
        (WeightingSpec::PcGrad | WeightingSpec::GradNorm, _) => [0.5, 0.5],
        (WeightingSpec::Mgda, _) => {
            // The min-norm combination of the two tasks' gradients of the trunk's output,
            // computed here on the CPU from the downloaded gradients.
            let one = || Tensor::full(g, &[1], 1.0).unwrap();
            let grad = |loss| {
                let t = tape
                    .gradient_at(&[(loss, one())], out.trunk)
                    .unwrap()
                    .unwrap();
                t.to_vec(g).unwrap()
            };
            let (g1, g2) = (grad(l_fr), grad(l_fer));
            let dot = |a: &[f32], b: &[f32]| -> f64 {
                a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
            };
            let (g11, g22, g12) = (dot(&g1, &g1), dot(&g2, &g2), dot(&g1, &g2));
            let alpha = ((g22 - g12) / (g11 + g22 - 2.0 * g12)).clamp(0.0, 1.0) as f32;
            [alpha, 1.0 - alpha]
        }
        (_, Some(w)) => {
            let w = read(&tape, w);
            [w[0], w[1]]
        }
        _ => unreachable!("a dynamic method runs the unit"),
    };
    let embedding = read(&tape, out.embedding);
    let scalar = |v: f32| Tensor::full(g, &[1], v).unwrap();
    let mut seeds = match (weight_grad_to_trunk, out.task_weights) {
        (true, Some(w)) => {
            let stacked = tape.concat(&[l_fr, l_fer]).unwrap();
            let weighted = tape.mul(w, stacked).unwrap();
            vec![(tape.sum(weighted).unwrap(), scalar(1.0))]
        }
        _ => vec![(l_fr, scalar(weights[0])), (l_fer, scalar(weights[1]))],
    };
    let center = fresh.center.as_ref().map(|c| {
        c.loss(&mut tape, out.embedding, &b.fr_labels, &b.fr_mask)
            .unwrap()
    });
    if let Some(term) = &center {
        seeds.push((term.loss, scalar(weights[0] * CENTER_LOSS_WEIGHT)));
    }
    let main_params = MultiTaskNet::main_params(&fresh.store);
    let download = |grads: &facemtl::autodiff::Gradients| -> HashMap<String, Vec<f32>> {
        main_params
            .iter()
            .filter_map(|&p| {
                let grad = grads.get(p)?.to_vec(g).unwrap();
                Some((fresh.store.name(p).to_string(), grad))
            })
            .collect()
    };
    let mut grads = if matches!(weighting, WeightingSpec::PcGrad) {
        // Each task alone, then PCGrad's projection computed here on the CPU in f64.
        let mut fr_seeds = vec![seeds[0].clone()];
        fr_seeds.extend(seeds[2..].iter().cloned());
        let g1 = download(&tape.backward(&fr_seeds, &main_params).unwrap());
        let g2 = download(&tape.backward(&seeds[1..2], &main_params).unwrap());
        let shared = |name: &str| name.starts_with("trunk.");
        let dot = |a: &HashMap<String, Vec<f32>>, b: &HashMap<String, Vec<f32>>| -> f64 {
            a.iter()
                .filter(|(n, _)| shared(n))
                .map(|(n, x)| {
                    x.iter()
                        .zip(&b[n])
                        .map(|(x, y)| *x as f64 * *y as f64)
                        .sum::<f64>()
                })
                .sum()
        };
        let (d11, d22, d12) = (dot(&g1, &g1), dot(&g2, &g2), dot(&g1, &g2));
        assert!(
            d12 < 0.0,
            "the test wants conflicting gradients on this batch: {d12}"
        );
        let (c1, c2) = (d12 / d22, d12 / d11);
        let names: std::collections::HashSet<&String> = g1.keys().chain(g2.keys()).collect();
        names
            .into_iter()
            .map(|n| {
                let (a, b) = if shared(n) {
                    (1.0 - c2, 1.0 - c1)
                } else {
                    (1.0, 1.0)
                };
                let len = g1.get(n).or(g2.get(n)).unwrap().len();
                let at =
                    |m: &HashMap<String, Vec<f32>>, i: usize| m.get(n).map_or(0.0, |v| v[i] as f64);
                let v = (0..len)
                    .map(|i| (a * at(&g1, i) + b * at(&g2, i)) as f32)
                    .collect();
                (n.clone(), v)
            })
            .collect()
    } else {
        download(&tape.backward(&seeds, &main_params).unwrap())
    };
    if let Some(w) = out.task_weights {
        // The unit's own objective: dL_w/dw = 1 / (L + 0.01) for the paper's method, the
        // losses themselves for the naive baseline.
        let seed = match weighting {
            WeightingSpec::NaiveDynamic => losses,
            _ => losses.map(|l| 1.0 / (l + 0.01)),
        };
        let unit_params = MultiTaskNet::unit_params(&fresh.store);
        let unit = tape
            .backward(
                &[(w, Tensor::from_slice(g, &[2], &seed).unwrap())],
                &unit_params,
            )
            .unwrap();
        for &p in &unit_params {
            let grad = unit.get(p).unwrap().to_vec(g).unwrap();
            grads.insert(fresh.store.name(p).to_string(), grad);
        }
    }
    Reference {
        losses,
        weights,
        grads,
        embedding,
    }
}

/// Takes one step and checks every parameter against the reference; returns the
/// parameters before and after, and the reference.
fn check_step(
    weighting: WeightingSpec,
    weight_grad_to_trunk: bool,
    center_loss: bool,
) -> (Values, Values, Reference) {
    let config = config(&weighting, weight_grad_to_trunk, center_loss);
    let mut stepped = learner(&config);
    let fresh = learner(&config);
    let before = snapshot(&stepped.store);
    assert!(
        before == snapshot(&fresh.store),
        "two learners of one seed differ"
    );
    let want = reference(&fresh, &weighting, weight_grad_to_trunk);
    let result = stepped
        .step(gpu(), &batch(), 0, DROPOUT_SEED, None)
        .unwrap();
    let after = snapshot(&stepped.store);
    approx::assert_relative_eq!(&result.losses[..], &want.losses[..], max_relative = 1e-5);
    approx::assert_relative_eq!(&result.weights[..], &want.weights[..], max_relative = 1e-5);
    assert_eq!(result.labelled, [5, 5]);
    let unit_moves = matches!(
        weighting,
        WeightingSpec::Dynamic | WeightingSpec::NaiveDynamic
    );
    for id in stepped.store.ids() {
        let name = stepped.store.name(id);
        if !stepped.store.is_trainable(id) {
            continue; // batch-norm statistics, centres: updated by rule, checked apart
        }
        let lr = if name.starts_with("unit.") {
            UNIT_LR
        } else {
            LR
        };
        let expected: Vec<f32> = match want.grads.get(name) {
            Some(grad) => before[name]
                .iter()
                .zip(grad)
                .map(|(w, g)| w - lr * g)
                .collect(),
            None => {
                assert!(
                    name.starts_with("unit.") && !unit_moves,
                    "{name} has no reference gradient"
                );
                before[name].clone()
            }
        };
        approx::assert_relative_eq!(
            &after[name][..],
            &expected[..],
            epsilon = 1e-6,
            max_relative = 1e-4
        );
        // What moves is what has a gradient: the unit only under a dynamic method, a
        // head only while its task's weight is above zero.
        let has_gradient = want
            .grads
            .get(name)
            .is_some_and(|g| g.iter().any(|&v| v != 0.0));
        let moved = after[name] != before[name];
        assert_eq!(moved, has_gradient, "{name}: moved {moved}");
        if name.starts_with("unit.") {
            assert_eq!(moved, unit_moves, "{name}: moved {moved}");
        }
    }
    (before, after, want)
}

#[test]
fn static_weights_move_the_network_by_its_weighted_gradient_and_leave_the_unit() {
    let (before, after, want) = check_step(WeightingSpec::Static([0.7, 0.3]), false, false);
    assert_eq!(want.weights, [0.7, 0.3]);
    assert_eq!(before["unit.fc.weight"], after["unit.fc.weight"]);
}

#[test]
fn a_task_weighted_zero_leaves_its_head_untouched() {
    let (before, after, _) = check_step(WeightingSpec::Static([1.0, 0.0]), false, false);
    for name in before
        .keys()
        .filter(|n| n.starts_with("fer.") && !n.contains("running"))
    {
        assert_eq!(before[name], after[name], "{name} moved with w_FER = 0");
    }
    assert_ne!(before["fr.logits.weight"], after["fr.logits.weight"]);
}

#[test]
fn dynamic_weights_train_the_network_on_the_unit_weights_and_the_unit_on_l_w() {
    let (_, _, want) = check_step(WeightingSpec::Dynamic, false, false);
    assert!(want.weights.iter().all(|&w| w > 0.19 && w < 0.81));
}

#[test]
fn dynamic_weights_with_the_gradient_through_the_unit_into_the_trunk() {
    check_step(WeightingSpec::Dynamic, true, false);
}

#[test]
fn naive_dynamic_trains_the_unit_on_l_total() {
    check_step(WeightingSpec::NaiveDynamic, false, false);
}

#[test]
fn mgda_weighs_the_tasks_by_the_min_norm_combination_of_their_trunk_gradients() {
    let (_, _, want) = check_step(WeightingSpec::Mgda, false, false);
    // Not a degenerate split: both tasks keep some weight on this batch.
    assert!(
        want.weights[0] > 0.0 && want.weights[1] > 0.0,
        "{:?}",
        want.weights
    );
}

#[test]
fn pcgrad_projects_conflicting_trunk_gradients_and_sums_them() {
    check_step(WeightingSpec::PcGrad, false, false);
}

/// Passes every call to the method it wraps and keeps the last view it was shown.
struct Recorder {
    inner: Box<dyn TaskWeighting>,
    seen: Arc<Mutex<Option<StepView>>>,
}

impl TaskWeighting for Recorder {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn wants_layer_gradient_norms(&self) -> bool {
        self.inner.wants_layer_gradient_norms()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        *self.seen.lock().unwrap() = Some(*step);
        self.inner.weights(step)
    }
}

#[test]
fn gradnorm_reads_each_task_s_gradient_norm_on_the_last_shared_layer() {
    // The step itself: the first one weighs the tasks 0.5/0.5.
    check_step(WeightingSpec::GradNorm, false, false);

    // The norms the step handed to the method, against each task's full backward pass
    // downloaded and measured on the CPU.
    let config = config(&WeightingSpec::GradNorm, false, false);
    let mut stepped = learner(&config);
    let fresh = learner(&config);
    let seen = Arc::new(Mutex::new(None));
    let inner = std::mem::replace(&mut stepped.weighting, Box::new(Static([0.5, 0.5])));
    stepped.weighting = Box::new(Recorder {
        inner,
        seen: seen.clone(),
    });
    stepped
        .step(gpu(), &batch(), 0, DROPOUT_SEED, None)
        .unwrap();
    let norms = seen.lock().unwrap().unwrap().layer_gradient_norms.unwrap();

    let (tape, _, l_fr, l_fer) = record(&fresh, false, false);
    let main_params = MultiTaskNet::main_params(&fresh.store);
    let layer = fresh.net.last_shared_weight();
    assert!(fresh.store.name(layer).starts_with("trunk.block3."));
    let want = [l_fr, l_fer].map(|loss| {
        let grads = tape
            .backward(
                &[(loss, Tensor::full(gpu(), &[1], 1.0).unwrap())],
                &main_params,
            )
            .unwrap();
        let g = grads.get(layer).unwrap().to_vec(gpu()).unwrap();
        g.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32
    });
    assert!(want.iter().all(|&n| n > 0.0), "{want:?}");
    approx::assert_relative_eq!(&norms[..], &want[..], max_relative = 1e-4);
}

#[test]
fn centre_loss_adds_its_gradient_and_moves_centres_by_wen_et_al_s_rule() {
    let (before, after, want) = check_step(WeightingSpec::Static([0.6, 0.4]), false, true);
    // Centres start at 0, so c_j = 0.5 * sum of class j's embeddings / (1 + n_j).
    let b = batch();
    let dim = want.embedding.len() / b.len();
    assert!(before["fr.centers"].iter().all(|&c| c == 0.0));
    let mut expected = vec![0.0f32; FR_CLASSES * dim];
    for class in 0..FR_CLASSES {
        let members: Vec<usize> = (0..b.len())
            .filter(|&i| b.fr_mask[i] > 0.0 && b.fr_labels[i] as usize == class)
            .collect();
        for &i in &members {
            for d in 0..dim {
                expected[class * dim + d] +=
                    0.5 * want.embedding[i * dim + d] / (1 + members.len()) as f32;
            }
        }
    }
    approx::assert_relative_eq!(
        &after["fr.centers"][..],
        &expected[..],
        epsilon = 1e-6,
        max_relative = 1e-4
    );
    // Class 2's only sample has no FR label: its centre stays at 0.
    assert!(after["fr.centers"][2 * dim..].iter().all(|&c| c == 0.0));
}

#[test]
fn the_schedule_sets_the_step_learning_rate() {
    // Guards the constant: the tests above assume SGD's lr is exactly LR on step 0.
    let config = config(&WeightingSpec::Dynamic, false, false);
    let l = learner(&config);
    assert_eq!(l.main_opt.lr(), LR);
    assert!(matches!(
        config.schedule.schedule(LR, 1, 1),
        LrSchedule::Constant(lr) if lr == LR
    ));
}
