//! Starting from trained weights: `--init-from` loads every tensor whose name and shape
//! match (the first forward pass of the shared layers is the source's), reports the rest,
//! refuses a source that is another network, and records where it started; `--freeze
//! trunk` leaves the shared layers exactly as loaded (weights and batch-norm statistics);
//! `--trunk-lr-scale` moves them by that share of the step.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::cli::{facemtl, temp_dir, tiny_run_args};
use common::{gpu, random, rng, snapshot};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::data::batches::Batch;
use facemtl::gpu::Tensor;
use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};
use facemtl::train::checkpoint::{Checkpoint, SIDECAR_JSON, WEIGHTS};
use facemtl::train::config::{OptimizerName, ScheduleSpec, Tasks, TrainConfig};
use facemtl::train::init::{load_into, Source};
use facemtl::train::Learner;
use facemtl::weighting::WeightingSpec;

/// The tensors of a safetensors file by name.
fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, bytemuck::pod_collect_to_vec(view.data())))
        .collect()
}

fn run(args: Vec<String>) -> (bool, String, String) {
    facemtl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A face-recognition run on 8 other people (another data seed): the source.
fn source_run(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let (ok, _, err) = run(tiny_run_args(
        &dir,
        "2",
        &["--tasks", "fr", "--subjects", "8", "--data-seed", "5"],
    ));
    assert!(ok, "{err}");
    dir
}

#[test]
fn a_run_starts_from_the_loaded_tensors_and_says_what_it_loaded() {
    let source = source_run("init-source");
    let out = temp_dir("init-target");
    let (ok, _, err) = run(tiny_run_args(
        &out,
        "1",
        &[
            "--init-from",
            source.to_str().unwrap(),
            "--trace",
            "1",
            "--augment",
            "none",
        ],
    ));
    assert!(ok, "{err}");
    // The table: the FR head's class count differs (8 people's 4 training subjects there,
    // 3 here), everything else loads.
    assert!(
        err.contains("loaded")
            && err.contains("shape differs")
            && err.contains("fr.logits.weight [4, 128] -> [3, 128]"),
        "{err}"
    );
    let before = tensors(&source.join(WEIGHTS));
    let start = tensors(&out.join("trace/step-0.safetensors"));
    let (mut shared, mut fer_fresh) = (0, false);
    for (name, values) in &start {
        if name.starts_with("fer.") {
            // The source trained face recognition alone: its FER branch is left out (its
            // values are where Adam's weight decay walked them, not a starting point), so
            // its random weights are this run's own (its zero biases and unit scales are
            // the same either way).
            fer_fresh |= &before[name] != values;
            continue;
        }
        match before.get(name) {
            Some(v) if v.len() == values.len() => {
                assert_eq!(v, values, "{name} was not loaded as it is");
                shared += 1;
            }
            _ => assert!(name.starts_with("fr.logits"), "{name}"),
        }
    }
    assert!(shared > 20, "{shared}");
    assert!(fer_fresh, "the FER branch was loaded from the source");
    assert!(
        err.contains("not trained there") && err.contains("fer.block"),
        "{err}"
    );
    // The run records its source and the source's digest.
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(SIDECAR_JSON)).unwrap()).unwrap();
    let init = &sidecar["config"]["init_from"];
    assert!(init["path"].as_str().unwrap().ends_with(WEIGHTS), "{init}");
    assert_eq!(init["digest"].as_str().unwrap().len(), 16);
    // --resume keeps its meaning: it continues the run, and takes no --init-from.
    let (ok, _, err) = facemtl(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--init-from",
        source.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--init-from"), "{err}");
}

#[test]
fn the_shared_layers_compute_the_source_s_forward_pass() {
    let source = source_run("init-forward");
    let g = gpu();
    let ck = Checkpoint::load_model(&source).unwrap();
    let build = |fr: usize| {
        let mut store = ParamStore::new();
        let net = MultiTaskNet::new(g, &mut store, Preset::Small, fr, 7, 99).unwrap();
        (net, store)
    };
    let (src_net, src_store) = build(ck.sidecar.fr_classes.len());
    ck.restore_model(g, &src_store).unwrap();
    let (new_net, new_store) = build(3);
    let report = load_into(g, &new_store, &Source::read(&source).unwrap()).unwrap();
    assert_eq!(report.shape_differs.len(), 2, "{report:?}");
    assert!(
        !report.untrained_in_source.is_empty()
            && report
                .untrained_in_source
                .iter()
                .all(|n| n.starts_with("fer.")),
        "{report:?}"
    );
    assert!(
        report.missing.is_empty() && report.unused.is_empty(),
        "{report:?}"
    );
    let images = random(&mut rng(4), 5 * 48 * 48);
    let trunk_output = |net: &MultiTaskNet, store: &ParamStore| {
        let mut tape = Tape::new(g, store, false, 0);
        let x = Tensor::from_slice(g, &[5, 1, 48, 48], &images).unwrap();
        let options = ForwardOptions {
            unit: false,
            detach_unit_input: true,
        };
        let out = net.forward(&mut tape, x, options).unwrap();
        (
            tape.value(out.trunk).to_vec(g).unwrap(),
            tape.value(out.embedding).to_vec(g).unwrap(),
        )
    };
    let (src_trunk, src_embedding) = trunk_output(&src_net, &src_store);
    let (new_trunk, new_embedding) = trunk_output(&new_net, &new_store);
    assert_eq!(src_trunk, new_trunk, "the trunk's output");
    assert_eq!(
        src_embedding, new_embedding,
        "the FR embedding (all its layers loaded)"
    );
}

#[test]
fn a_source_that_is_another_network_is_refused() {
    let paper = temp_dir("init-paper-small");
    let (ok, _, err) = run(tiny_run_args(
        &paper,
        "1",
        &["--preset", "paper-small", "--tasks", "fr", "--batch", "4"],
    ));
    assert!(ok, "{err}");
    let out = temp_dir("init-refused");
    let (ok, _, err) = run(tiny_run_args(
        &out,
        "1",
        &["--init-from", paper.to_str().unwrap()],
    ));
    assert!(
        !ok && err.contains("0% of this network's shared layers"),
        "{err}"
    );
    assert!(err.contains("--preset"), "names the likely cause: {err}");
    assert!(!out.join(WEIGHTS).exists());
    // Colour: the first convolution's input channels differ.
    let gray = source_run("init-gray");
    let (ok, _, err) = run(tiny_run_args(
        &temp_dir("init-rgb"),
        "1",
        &["--init-from", gray.to_str().unwrap(), "--color", "rgb"],
    ));
    // One layer of the trunk differs: the rest loads (a warm start), and the table says so.
    assert!(
        ok && err.contains("trunk.block1.1.conv.weight [16, 1, 3, 3] -> [16, 3, 3, 3]"),
        "{err}"
    );
    // A file of other names, and no file at all.
    let other = temp_dir("init-other.safetensors");
    let values = vec![1.0f32; 6];
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        vec![2, 3],
        bytemuck::cast_slice(&values),
    )
    .unwrap();
    let bytes = safetensors::tensor::serialize([("encoder.weight", view)], None).unwrap();
    std::fs::write(&other, bytes).unwrap();
    let (ok, _, err) = run(tiny_run_args(
        &out,
        "1",
        &["--init-from", other.to_str().unwrap()],
    ));
    assert!(!ok && err.contains("no tensor name is shared"), "{err}");
    let (ok, _, err) = run(tiny_run_args(&out, "1", &["--init-from", "/no/such/run"]));
    assert!(!ok && err.contains("no such file"), "{err}");
}

#[test]
fn a_frozen_trunk_ends_the_run_exactly_as_loaded() {
    let source = source_run("freeze-source");
    let out = temp_dir("freeze-target");
    let (ok, _, err) = run(tiny_run_args(
        &out,
        "2",
        &["--init-from", source.to_str().unwrap(), "--freeze", "trunk"],
    ));
    assert!(ok, "{err}");
    let before = tensors(&source.join(WEIGHTS));
    let after = tensors(&out.join(WEIGHTS));
    let mut checked = 0;
    for (name, values) in &after {
        if name.starts_with("trunk.") {
            // Weights and the batch norms' running statistics alike.
            assert_eq!(&before[name], values, "{name} moved");
            checked += 1;
        } else if name == "fr.embedding.weight" {
            assert_ne!(&before[name], values, "the FR branch trains");
        }
    }
    assert!(checked >= 10, "{checked}");
    // Methods that need the trunk's gradients are refused with it.
    let (ok, _, err) = run(tiny_run_args(
        &temp_dir("freeze-gradnorm"),
        "1",
        &["--freeze", "trunk", "--weighting", "gradnorm"],
    ));
    assert!(
        !ok && err.contains("gradnorm") && err.contains("--freeze trunk"),
        "{err}"
    );
}

fn sgd_config(scale: f32, freeze: bool) -> TrainConfig {
    TrainConfig {
        lr: 0.05,
        optimizer: OptimizerName::Sgd,
        schedule: ScheduleSpec::Constant,
        weight_decay: 0.0,
        clip_norm: Some(5.0),
        weighting: WeightingSpec::Static([0.5, 0.5]),
        seed: 5,
        trunk_lr_scale: scale,
        freeze_trunk: freeze,
        ..TrainConfig::default()
    }
}

fn learner(config: &TrainConfig) -> Learner {
    Learner::new(
        gpu(),
        config,
        [3, 7],
        Tasks::Both,
        config.weighting.clone(),
        1,
    )
    .unwrap()
}

#[test]
fn the_trunk_moves_by_its_share_of_the_step_or_not_at_all() {
    let n = 6;
    let batch = Batch {
        indices: (0..n).collect(),
        images: random(&mut rng(3), n * 48 * 48),
        fr_labels: vec![0, 1, 0, 2, 1, 0],
        fr_mask: vec![1.0; 6],
        fer_labels: vec![0, 3, 6, 2, 5, 1],
        fer_mask: vec![1.0; 6],
    };
    let step = |config: TrainConfig| {
        let mut l = learner(&config);
        let before = snapshot(&l.store);
        l.step(gpu(), &batch, 0, 1, None).unwrap();
        (before, snapshot(&l.store))
    };
    let (start, full) = step(sgd_config(1.0, false));
    let (_, quarter) = step(sgd_config(0.25, false));
    let (_, frozen) = step(sgd_config(1.0, true));
    let mut trunk_moved = false;
    for (name, p0) in &start {
        let (f, q, z) = (&full[name], &quarter[name], &frozen[name]);
        if name.starts_with("trunk.") && !name.contains(".running_") {
            for i in 0..p0.len() {
                let (df, dq) = (f[i] - p0[i], q[i] - p0[i]);
                // Plain SGD's first step: p - lr * s * g, so the move is a quarter.
                assert!(
                    (dq - 0.25 * df).abs() <= 1e-6 * (1.0 + p0[i].abs()),
                    "{name}[{i}]: {dq} against a quarter of {df}"
                );
                trunk_moved |= df != 0.0;
            }
        }
        if name.starts_with("trunk.") {
            // Weights and running statistics: nothing of a frozen trunk moves.
            assert_eq!(z, p0, "{name}: a frozen trunk moved");
        } else if !name.starts_with("unit.") && !name.contains(".running_") {
            // The heads see the same gradients and the full rate either way (the clipping
            // norm is over the gradients, not the updates).
            assert_eq!(f, q, "{name}");
        }
    }
    assert!(trunk_moved);
}

#[test]
fn a_one_task_run_leaves_the_other_branch_as_initialised() {
    let out = temp_dir("one-task-branch");
    let (ok, _, err) = run(tiny_run_args(
        &out,
        "2",
        &["--tasks", "fr", "--trace", "1", "--augment", "none"],
    ));
    assert!(ok, "{err}");
    let start = tensors(&out.join("trace/step-0.safetensors"));
    let end = tensors(&out.join(WEIGHTS));
    let mut checked = 0;
    for (name, values) in &end {
        // Its weights: no gradient reaches them and no optimiser decays them (its batch
        // norms' running statistics are recomputed with the rest before evaluation).
        if name.starts_with("fer.") && !name.contains(".running_") {
            assert_eq!(&start[name], values, "{name} moved in a run without FER");
            checked += 1;
        }
        if name == "fr.embedding.weight" {
            assert_ne!(&start[name], values, "the FR branch trains");
        }
    }
    assert!(checked >= 6, "{checked}");
}
