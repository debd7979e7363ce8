//! One training step, the unit the weighting methods plug into: record the forward pass,
//! read back the two task losses, the unit's task weights and the logits in one readback,
//! let the weighting method set this step's weights, then record the backward passes
//! (network, and weight unit) and the optimiser updates. Nothing else waits on the device.

use std::time::Instant;

use super::config::{Tasks, TrainConfig};
use super::error::TrainError;
use super::evaluate::argmax;
use crate::autodiff::{Gradients, ParamId, ParamStore, Tape, Var};
use crate::data::batches::Batch;
use crate::gpu::{Gpu, Indices, Tensor};
use crate::kernels::{elementwise, reduce};
use crate::model::{CenterLoss, ForwardOptions, MultiTaskNet, CENTER_LOSS_WEIGHT};
use crate::optim::{LrSchedule, Optimizer, OptimizerKind, SgdConfig};
use crate::weighting::{RunContext, StepView, TaskWeighting, WeightingSpec};

/// What one training step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    pub losses: [f32; 2],
    pub weights: [f32; 2],
    /// Correct predictions and labelled samples of the batch, per task.
    pub correct: [usize; 2],
    pub labelled: [usize; 2],
}

/// Where a step's wall time went (for benchmarks: asking for it makes the step wait for
/// the device at its end).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTiming {
    /// Recording the forward pass and waiting for its readback (the forward's device time).
    pub forward: f64,
    /// Host work between the readback and the backward pass (accuracy, task weights).
    pub host: f64,
    /// Recording the backward passes and updates, and waiting for the device to finish.
    pub backward: f64,
}

/// The network, its parameters, the two optimisers, the weighting method and the optional
/// centre loss: everything a training step changes.
pub struct Learner {
    pub net: MultiTaskNet,
    pub store: ParamStore,
    pub main_opt: Optimizer,
    pub unit_opt: Optimizer,
    pub weighting: Box<dyn TaskWeighting>,
    pub center: Option<CenterLoss>,
    /// Keep the task weights on the tape in L_total, so its gradient reaches the trunk
    /// through the weight unit (the authors' code); else the weights are constants.
    pub weight_grad_to_trunk: bool,
}

impl Learner {
    /// The network of `config` for `classes` = [identities, expressions], its optimisers
    /// (the main one's schedule laid out over `steps_per_epoch` x the config's epochs) and
    /// `weighting`; the centre loss when the config asks for it and FR is trained.
    pub fn new(
        gpu: &Gpu,
        config: &TrainConfig,
        classes: [usize; 2],
        tasks: Tasks,
        weighting: WeightingSpec,
        steps_per_epoch: usize,
    ) -> Result<Learner, TrainError> {
        let mut store = ParamStore::new();
        let mut net = MultiTaskNet::with_input_channels(
            gpu,
            &mut store,
            config.preset,
            config.color.channels(),
            classes[0],
            classes[1],
            config.seed,
        )?;
        net.keep = config.keep;
        net.normalize_unit_logits = config.normalize_unit_logits;
        net.frozen_trunk = config.freeze_trunk;
        let center = if config.center_loss && tasks != Tasks::Fer {
            Some(CenterLoss::new(
                gpu,
                &mut store,
                classes[0],
                net.architecture.embedding,
            )?)
        } else {
            None
        };
        let schedule = config
            .schedule
            .schedule(config.lr, steps_per_epoch, config.epochs);
        // The shared layers first (they are built first), so a share of the rate can be
        // given to a leading run of the group; none of them when frozen. A branch of a task
        // not trained is left out too: it has no gradient, and the optimiser's weight decay
        // would otherwise walk it to zero (Adam's coupled decay, at lr per step), where it is
        // no use to a run that starts from this one.
        let untrained = tasks.untrained_branch();
        let (trunk, rest): (Vec<ParamId>, Vec<ParamId>) = MultiTaskNet::main_params(&store)
            .into_iter()
            .filter(|&id| untrained.is_none_or(|prefix| !store.name(id).starts_with(prefix)))
            .partition(|&id| store.name(id).starts_with("trunk."));
        let trunk_len = if config.freeze_trunk { 0 } else { trunk.len() };
        let main_params = match config.freeze_trunk {
            true => rest,
            false => [trunk, rest].concat(),
        };
        let mut main_opt = Optimizer::new(
            gpu,
            &mut store,
            main_params,
            config.optimizer_kind(),
            schedule,
            config.clip_norm,
        )?;
        if config.trunk_lr_scale != 1.0 {
            main_opt.scale_leading_lr(trunk_len, config.trunk_lr_scale);
        }
        let unit_kind = OptimizerKind::Sgd(SgdConfig {
            lr: config.unit_lr,
            momentum: 0.0,
            weight_decay: 0.0,
        });
        let unit_params = MultiTaskNet::unit_params(&store);
        let unit_opt = Optimizer::new(
            gpu,
            &mut store,
            unit_params,
            unit_kind,
            LrSchedule::Constant(config.unit_lr),
            None,
        )?;
        Ok(Learner {
            net,
            store,
            main_opt,
            unit_opt,
            weighting: weighting.build(RunContext {
                seed: config.seed,
                steps_per_epoch,
                unit_lr: config.unit_lr,
            }),
            center,
            weight_grad_to_trunk: config.weight_grad_to_trunk,
        })
    }

    /// One training step on `batch`; `dropout_seed` picks the dropout masks. With `timing`,
    /// waits for the device at the end and reports where the time went.
    pub fn step(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        step: u64,
        dropout_seed: u32,
        timing: Option<&mut StepTiming>,
    ) -> Result<StepResult, TrainError> {
        let started = Instant::now();
        let n = batch.len();
        let size = self.net.architecture.input;
        let uses_unit = self.weighting.uses_unit();
        let mut tape = Tape::new(gpu, &self.store, true, dropout_seed);
        let images = Tensor::from_slice(gpu, &[n, self.net.channels, size, size], &batch.images)?;
        let options = ForwardOptions {
            unit: uses_unit,
            detach_unit_input: !self.weight_grad_to_trunk,
        };
        let out = self.net.forward(&mut tape, images, options)?;
        let fr_labels = Indices::from_slice(gpu, &batch.fr_labels)?;
        let fer_labels = Indices::from_slice(gpu, &batch.fer_labels)?;
        let l_fr = tape.softmax_cross_entropy(
            out.fr_logits,
            &fr_labels,
            &Tensor::from_slice(gpu, &[n], &batch.fr_mask)?,
        )?;
        let l_fer = tape.softmax_cross_entropy(
            out.fer_logits,
            &fer_labels,
            &Tensor::from_slice(gpu, &[n], &batch.fer_mask)?,
        )?;

        // Per-task gradients of the shared representation, for methods that combine them:
        // |g_FR|^2, |g_FER|^2, g_FR . g_FER, read back with the losses.
        let shared = if self.weighting.wants_shared_gradients() {
            Some(shared_gradient_dots(&tape, out.trunk, [l_fr, l_fer])?)
        } else {
            None
        };

        // Each task's gradient norm on the last shared layer's weights, squared.
        let layer_norms = if self.weighting.wants_layer_gradient_norms() {
            Some(layer_gradient_squares(
                &tape,
                [l_fr, l_fer],
                self.net.last_shared_weight(),
            )?)
        } else {
            None
        };

        // The step's one readback: losses, [gradient dots], [layer norms], [unit weights],
        // logits.
        let mut parts = vec![tape.value(l_fr), tape.value(l_fer)];
        parts.extend(shared.iter().chain(&layer_norms));
        if let Some(w) = out.task_weights {
            parts.push(tape.value(w));
        }
        parts.extend([tape.value(out.fr_logits), tape.value(out.fer_logits)]);
        let values = Tensor::concat(gpu, &parts)?.to_vec(gpu)?;
        let read_back = Instant::now();
        let r = Readback::parse(&values, shared.is_some(), layer_norms.is_some(), uses_unit);
        let (losses, logits) = (r.losses, r.logits);
        let (shared_gradients, layer_gradient_norms, unit_weights) =
            (r.shared_gradients, r.layer_gradient_norms, r.unit_weights);
        for (value, loss) in losses.iter().zip(["L_FR", "L_FER"]) {
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    step,
                    loss,
                    value: *value,
                    checkpoint_kept: false,
                });
            }
        }
        let (correct, labelled) =
            batch_hits(logits.split_at(n * self.net.fr_classes.max(1)), batch);
        let accuracy =
            [0, 1].map(|t| (labelled[t] > 0).then(|| correct[t] as f32 / labelled[t] as f32));
        let weights = self.weighting.weights(&StepView {
            step,
            losses,
            unit: unit_weights,
            accuracy,
            shared_gradients,
            layer_gradient_norms,
        });
        let host_done = Instant::now();

        let update = Update {
            store: &self.store,
            main_opt: &mut self.main_opt,
            unit_opt: &mut self.unit_opt,
            weighting: self.weighting.as_ref(),
            center: self.center.as_ref(),
            weight_grad_to_trunk: self.weight_grad_to_trunk,
        };
        update.run(&mut tape, &out, [l_fr, l_fer], losses, weights, batch)?;
        if let Some(t) = timing {
            drop(tape);
            gpu.synchronize()?;
            *t = StepTiming {
                forward: (read_back - started).as_secs_f64(),
                host: (host_done - read_back).as_secs_f64(),
                backward: host_done.elapsed().as_secs_f64(),
            };
        }
        Ok(StepResult {
            losses,
            weights,
            correct,
            labelled,
        })
    }
}

/// The values a step reads back, in the order they were concatenated.
struct Readback<'v> {
    losses: [f32; 2],
    shared_gradients: Option<[f32; 3]>,
    layer_gradient_norms: Option<[f32; 2]>,
    unit_weights: Option<[f32; 2]>,
    /// FR rows, then FER rows.
    logits: &'v [f32],
}

impl<'v> Readback<'v> {
    /// Splits `values`: two losses, then the three gradient dots, the two squared layer
    /// norms (their roots kept) and the unit's two weights where the step read them, then
    /// the logits.
    fn parse(values: &'v [f32], dots: bool, norms: bool, unit: bool) -> Readback<'v> {
        let mut rest = &values[2..];
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        };
        let shared_gradients = dots.then(|| <[f32; 3]>::try_from(take(3)).expect("3 values"));
        let layer_gradient_norms = norms.then(|| {
            <[f32; 2]>::try_from(take(2))
                .expect("2 values")
                .map(f32::sqrt)
        });
        let unit_weights = unit.then(|| <[f32; 2]>::try_from(take(2)).expect("2 values"));
        Readback {
            losses: [values[0], values[1]],
            shared_gradients,
            layer_gradient_norms,
            unit_weights,
            logits: rest,
        }
    }
}

/// What a step's backward passes change: the parts of a [`Learner`] besides its network.
struct Update<'a> {
    store: &'a ParamStore,
    main_opt: &'a mut Optimizer,
    unit_opt: &'a mut Optimizer,
    weighting: &'a dyn TaskWeighting,
    center: Option<&'a CenterLoss>,
    weight_grad_to_trunk: bool,
}

impl Update<'_> {
    /// The step's backward passes and updates once the weights are set: L_total (with the
    /// centre loss when there is one) into the network (projected for PCGrad), the
    /// optimiser's update, the centres' move, and the unit's own objective into the unit.
    fn run(
        self,
        tape: &mut Tape,
        out: &crate::model::Outputs,
        [l_fr, l_fer]: [Var; 2],
        losses: [f32; 2],
        weights: [f32; 2],
        batch: &Batch,
    ) -> Result<(), TrainError> {
        let gpu = &tape.gpu().clone();
        let center = match &self.center {
            Some(c) if weights[0] > 0.0 => {
                Some(c.loss(tape, out.embedding, &batch.fr_labels, &batch.fr_mask)?)
            }
            _ => None,
        };
        let mut seeds = match (self.weight_grad_to_trunk, out.task_weights) {
            (true, Some(w)) => {
                // L_total with w on the tape: its gradient also flows through w.
                let stacked = tape.concat(&[l_fr, l_fer])?;
                let weighted = tape.mul(w, stacked)?;
                vec![(tape.sum(weighted)?, Tensor::full(gpu, &[1], 1.0)?)]
            }
            _ => vec![
                (l_fr, Tensor::full(gpu, &[1], weights[0])?),
                (l_fer, Tensor::full(gpu, &[1], weights[1])?),
            ],
        };
        if let Some(term) = &center {
            seeds.push((
                term.loss,
                Tensor::full(gpu, &[1], weights[0] * CENTER_LOSS_WEIGHT)?,
            ));
        }
        let grads = if self.weighting.projects_gradients() {
            // seeds: L_FR, L_FER, then the centre loss (an FR term) if any.
            let mut fr_seeds = vec![seeds[0].clone()];
            fr_seeds.extend(seeds[2..].iter().cloned());
            projected_gradients(
                tape,
                self.store,
                &fr_seeds,
                &[seeds[1].clone()],
                self.main_opt.params(),
            )?
        } else {
            tape.backward(&seeds, self.main_opt.params())?
        };
        self.main_opt.step(gpu, &grads)?;
        if let (Some(c), Some(term)) = (self.center, &center) {
            c.update(tape, term)?;
        }
        if let (Some(w), Some(g)) = (
            out.task_weights,
            self.weighting.unit_gradient(losses, weights),
        ) {
            let unit_grads = tape.backward(
                &[(w, Tensor::from_slice(gpu, &[2], &g)?)],
                self.unit_opt.params(),
            )?;
            self.unit_opt.step(gpu, &unit_grads)?;
        }
        Ok(())
    }
}

/// |g_FR|^2, |g_FER|^2 and g_FR . g_FER of each task's gradient at the shared
/// representation `trunk`, as one [3] tensor read back with the losses (for the methods
/// that combine the two gradients).
fn shared_gradient_dots(
    tape: &Tape,
    trunk: Var,
    [l_fr, l_fer]: [Var; 2],
) -> Result<Tensor, TrainError> {
    let gpu = tape.gpu();
    let one = Tensor::full(gpu, &[1], 1.0)?;
    let fr = tape.gradient_at(&[(l_fr, one.clone())], trunk)?;
    let fer = tape.gradient_at(&[(l_fer, one)], trunk)?;
    let zeros = || Tensor::zeros(gpu, tape.value(trunk).shape());
    let (fr, fer) = (fr.map_or_else(zeros, Ok)?, fer.map_or_else(zeros, Ok)?);
    Ok(Tensor::concat(
        gpu,
        &[
            &reduce::sum_squares(gpu, &fr)?,
            &reduce::sum_squares(gpu, &fer)?,
            &reduce::dot(gpu, &fr, &fer)?,
        ],
    )?)
}

/// Correct predictions and labelled samples of a batch, per task, from the read-back
/// logits (FR rows, FER rows).
fn batch_hits(
    (fr_logits, fer_logits): (&[f32], &[f32]),
    batch: &Batch,
) -> ([usize; 2], [usize; 2]) {
    let n = batch.len();
    let mut correct = [0; 2];
    let mut labelled = [0; 2];
    for (task, (rows, labels, mask)) in [
        (fr_logits, &batch.fr_labels, &batch.fr_mask),
        (fer_logits, &batch.fer_labels, &batch.fer_mask),
    ]
    .into_iter()
    .enumerate()
    {
        let classes = rows.len() / n;
        for (k, row) in rows.chunks(classes).enumerate() {
            if mask[k] > 0.0 {
                labelled[task] += 1;
                correct[task] += (argmax(row) == labels[k] as usize) as usize;
            }
        }
    }
    (correct, labelled)
}

/// |dL/dW|^2 for each of `losses` and the parameter `weight`, as one [2] tensor on the
/// device: each loss back-propagated alone, through only the ops between it and `weight`.
fn layer_gradient_squares(
    tape: &Tape,
    losses: [Var; 2],
    weight: ParamId,
) -> Result<Tensor, TrainError> {
    let gpu = tape.gpu();
    let mut squares = Vec::new();
    for loss in losses {
        let grads = tape.backward(&[(loss, Tensor::full(gpu, &[1], 1.0)?)], &[weight])?;
        squares.push(match grads.get(weight) {
            Some(g) => reduce::sum_squares(gpu, g)?,
            None => Tensor::zeros(gpu, &[1])?,
        });
    }
    Ok(Tensor::concat(gpu, &[&squares[0], &squares[1]])?)
}

/// PCGrad's combined gradients: each task's seeds back-propagated alone into `params`; on
/// the shared (trunk) parameters, where the two gradients conflict, each projected onto
/// the normal plane of the other before they are summed; elsewhere the plain sum.
fn projected_gradients(
    tape: &Tape,
    store: &ParamStore,
    fr_seeds: &[(Var, Tensor)],
    fer_seeds: &[(Var, Tensor)],
    params: &[ParamId],
) -> Result<Gradients, TrainError> {
    let gpu = tape.gpu();
    let (g1, g2) = (
        tape.backward(fr_seeds, params)?,
        tape.backward(fer_seeds, params)?,
    );
    let shared: Vec<ParamId> = params
        .iter()
        .copied()
        .filter(|&p| store.name(p).starts_with("trunk."))
        .collect();
    // The dot products over every shared parameter, read back: |g1|^2, |g2|^2, g1 . g2.
    let squares = |g: &Gradients| {
        let each = shared
            .iter()
            .filter_map(|&p| g.get(p))
            .map(|t| reduce::sum_squares(gpu, t))
            .collect::<Result<Vec<_>, _>>()?;
        reduce::sum_scalars(gpu, &each)
    };
    let cross = shared
        .iter()
        .filter_map(|&p| Some((g1.get(p)?, g2.get(p)?)))
        .map(|(a, b)| reduce::dot(gpu, a, b))
        .collect::<Result<Vec<_>, _>>()?;
    let dots = [
        squares(&g1)?,
        squares(&g2)?,
        reduce::sum_scalars(gpu, &cross)?,
    ];
    let d = Tensor::concat(gpu, &[&dots[0], &dots[1], &dots[2]])?.to_vec(gpu)?;
    let (d11, d22, d12) = (d[0], d[1], d[2]);
    // g1' = g1 - c1 g2 and g2' = g2 - c2 g1 where they conflict; their sum.
    let c1 = if d12 < 0.0 && d22 > 0.0 {
        d12 / d22
    } else {
        0.0
    };
    let c2 = if d12 < 0.0 && d11 > 0.0 {
        d12 / d11
    } else {
        0.0
    };
    let mut combined = Vec::new();
    for &p in params {
        let (a, b) = (g1.get(p), g2.get(p));
        let (alpha, beta) = if shared.contains(&p) {
            (1.0 - c2, 1.0 - c1)
        } else {
            (1.0, 1.0)
        };
        let g = match (a, b) {
            (Some(a), Some(b)) => elementwise::axpby(gpu, alpha, a, beta, b)?,
            (Some(a), None) => elementwise::scale(gpu, a, alpha)?,
            (None, Some(b)) => elementwise::scale(gpu, b, beta)?,
            (None, None) => continue,
        };
        combined.push((p, g));
    }
    Ok(Gradients::from_pairs(combined))
}
