//! The `facemtl` program end to end on tiny configs: a training run writes every promised
//! file, a resumed run equals an uninterrupted one, eval reproduces the run's test metrics
//! from the checkpoint, predict reads a PNG, and bad input gives clear errors.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::{facemtl, temp_dir};

/// 8 subjects in 2 folds: 4 tested, and of the other 4, 40% (2) validate, 2 train.
const TINY: &[&str] = &[
    "--val-fraction",
    "0.4",
    "--subjects",
    "8",
    "--per-expression",
    "3",
    "--batch",
    "8",
    "--folds",
    "2",
    "--quiet",
    "--seed",
    "3",
];

fn train(out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--out", out.to_str().unwrap()];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = facemtl(&args);
    assert!(ok, "train failed:\n{stdout}\n{stderr}");
    stdout
}

/// Runs facemtl with `args`, presses Ctrl-C once a stdout line starts with `after`, and
/// returns its stderr after checking that it stopped with an error status.
fn interrupt(args: &[&str], after: &str) -> String {
    signal_after(args, after, "INT")
}

/// Runs facemtl with `args`, sends it `signal` (as `kill -SIGNAL` names it) once a stdout
/// line starts with `after`, and returns its stderr after checking that it stopped with an
/// error status.
fn signal_after(args: &[&str], after: &str, signal: &str) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .args(args)
        .current_dir(common::cli::work_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.starts_with(after))),
        "no line starting {after:?}"
    );
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        !output.status.success(),
        "an interrupted run exits with an error status"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_training_run_writes_every_file_and_eval_reproduces_its_metrics() {
    let dir = temp_dir("run");
    let stdout = train(&dir, &["--epochs", "2"]);
    assert!(
        stdout.contains("epoch 2/2") && stdout.contains("Test fold"),
        "{stdout}"
    );
    // Per-epoch figures are the validation split's; the test fold shows once, at the end.
    assert!(stdout.contains("validation: identification"), "{stdout}");
    assert_eq!(stdout.matches("Test fold").count(), 1, "{stdout}");
    for file in [
        "metrics.csv",
        "epochs.csv",
        "summary.json",
        "checkpoint.safetensors",
        "checkpoint.state.safetensors",
        "checkpoint.json",
        "split.json",
        "plots/losses.png",
        "plots/weights.png",
        "plots/accuracy.png",
        "plots/confusion.png",
    ] {
        assert!(dir.join(file).is_file(), "missing {file}");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let s = summary(&dir);
    assert_eq!(
        metrics.lines().next().unwrap(),
        "epoch,step,loss_fr,loss_fer,w_fr,w_fer,lr"
    );
    assert_eq!(
        metrics.lines().count() as u64 - 1,
        s["steps"].as_u64().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("epochs.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    for key in [
        "fer_accuracy",
        "fr_identification_accuracy",
        "fr_verification_accuracy",
        "fr_verification_auc",
        "validation",
        "adapter",
        "wall_seconds",
        "images_per_second",
    ] {
        assert!(!s[key].is_null(), "summary.json lacks {key}: {s}");
    }
    // The checkpoint alone reproduces the test-fold metrics.
    let (ok, out, err) = facemtl(&[
        "eval",
        "--checkpoint",
        dir.join("checkpoint.safetensors").to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let fer = s["fer_accuracy"].as_f64().unwrap();
    assert!(
        out.contains(&format!("FER accuracy:                {fer:.4}")),
        "eval:\n{out}\nsummary fer {fer}"
    );
    assert!(out.contains("FER confusion matrix"), "{out}");
    // The threshold stored with the checkpoint (chosen on the validation split) is used.
    let threshold = s["metrics"]["fr_verification_threshold"].as_f64().unwrap();
    assert!(
        out.contains(&format!(
            "verification threshold:      {threshold:.4} (stored"
        )),
        "eval:\n{out}\nsummary threshold {threshold}"
    );
    // Only the fold the checkpoint was trained for can be evaluated.
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", dir.to_str().unwrap(), "--fold", "1"]);
    assert!(
        !ok && err.contains("trained for fold 0") && err.contains("--fold 1"),
        "{err}"
    );
    let auc = s["fr_verification_auc"].as_f64().unwrap();
    assert!(
        out.contains(&format!("FR verification ROC AUC:     {auc:.4}\n")),
        "eval:\n{out}\nsummary auc {auc}"
    );

    // Predict on a face written by gen-data.
    let faces = temp_dir("faces");
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        faces.to_str().unwrap(),
        "--subjects",
        "2",
        "--per-expression",
        "1",
        "--size",
        "48",
    ]);
    assert!(ok, "{err}");
    assert!(faces.join("montage.png").is_file() && faces.join("manifest.csv").is_file());
    let png = faces.join("images/s001_happiness_1.png");
    let (ok, out, err) = facemtl(&[
        "predict",
        "--checkpoint",
        dir.to_str().unwrap(),
        png.to_str().unwrap(),
        "--top-k",
        "2",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("identity:")
            && out.contains("synthetic")
            && out.contains("expression:")
            && out.contains("happiness"),
        "{out}"
    );
    let (ok, _, err) = facemtl(&[
        "predict",
        "--checkpoint",
        dir.to_str().unwrap(),
        "/no/such/face.png",
    ]);
    assert!(!ok && err.contains("/no/such/face.png"), "{err}");

    // A checkpoint does not load into a network of another preset.
    let checkpoint = facemtl::train::checkpoint::Checkpoint::load(&dir).unwrap();
    let gpu = facemtl::gpu::Gpu::new(&facemtl::gpu::GpuOptions {
        adapter: None,
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let mut store = facemtl::autodiff::ParamStore::new();
    let fr = checkpoint.sidecar.fr_classes.len();
    facemtl::model::MultiTaskNet::new(&gpu, &mut store, facemtl::model::Preset::Medium, fr, 7, 0)
        .unwrap();
    let e = checkpoint.restore_model(&gpu, &store).unwrap_err();
    assert!(e.contains("another preset") || e.contains("expects"), "{e}");

    // An existing run is never overwritten by accident.
    let before = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let (ok, _, err) = facemtl(&[
        "train",
        "--out",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(
        !ok && err.contains("already holds a run") && err.contains("--resume"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("checkpoint.safetensors")).unwrap(),
        before
    );
}

#[test]
fn info_lists_the_gemm_plans_of_a_training_step() {
    let (ok, out, err) = facemtl(&["info", "--plans", "--batch", "4"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("GEMM plans of one small/4 training step"),
        "{out}"
    );
    for pass in [
        "conv forward",
        "conv data gradient",
        "conv weight gradient",
        "matmul",
    ] {
        assert!(out.contains(pass), "no {pass} plan:\n{out}");
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    resumed_equals_straight("dynamic", &[]);
}

#[test]
fn the_paper_network_trains_resumes_evaluates_and_predicts() {
    // The built-in faces, resumed exactly; eval reproduces the run's test metrics from
    // the checkpoint; predict reads a PNG of another size.
    let run = resumed_equals_straight("paper-small", &["--preset", "paper-small"]);
    let s = summary(&run);
    // The paper presets' own recipe: RMSProp at 0.03 unless told otherwise.
    let recipe = |s: &serde_json::Value| {
        let config = &s["config"];
        (config["optimizer"].clone(), config["lr"].as_f64().unwrap())
    };
    assert_eq!(recipe(&s), ("rmsprop".into(), 0.03));
    let (ok, out, err) = facemtl(&["eval", "--checkpoint", run.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let fer = s["fer_accuracy"].as_f64().unwrap();
    assert!(
        out.contains(&format!("FER accuracy:                {fer:.4}")),
        "eval:\n{out}\nsummary fer {fer}"
    );
    let faces = common::cli::gen_faces("paper-faces", "6", "2", &["--size", "64"]);
    common::cli::assert_predicts(&run, &faces.join("images/s001_happiness_1.png"));
    // A manifest of RGB images.
    let manifest_run = temp_dir("paper-manifest");
    let (ok, out, err) = common::cli::train_on(
        &faces.join("manifest.csv"),
        &manifest_run,
        "1",
        &[
            "--preset",
            "paper-small",
            "--color",
            "rgb",
            "--optimizer",
            "adam",
        ],
    );
    assert!(ok, "{out}{err}");
    // Another optimiser than the preset's starts from the common default rate.
    assert_eq!(recipe(&summary(&manifest_run)), ("adam".into(), 0.003));
    let bytes = std::fs::read(manifest_run.join("checkpoint.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let stem = weights.tensor("trunk.stem.conv1a.conv.weight").unwrap();
    assert_eq!(stem.shape(), [8, 3, 3, 3]);
}

#[test]
fn the_full_paper_network_runs_and_checkpoints() {
    // The paper's sizes (160 px, 5 / 10 / 5 blocks): training it is a GPU job; here two
    // steps on 21 images show it builds, steps and writes a checkpoint.
    let run = temp_dir("paper-full");
    let (ok, out, err) = facemtl(&[
        "train",
        "--preset",
        "paper",
        "--subjects",
        "6",
        "--per-expression",
        "1",
        "--folds",
        "3",
        "--batch",
        "16",
        "--epochs",
        "1",
        "--val-fraction",
        "0",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert_eq!(summary(&run)["steps"], 2);
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [
        ("trunk.stem.conv1a.conv.weight", vec![32, 1, 3, 3]),
        ("trunk.block35.4.project.weight", vec![256, 96, 1, 1]),
        (
            "trunk.block17.9.branch1.1.conv.weight",
            vec![128, 128, 1, 7],
        ),
        ("trunk.block8.4.project.weight", vec![1792, 384, 1, 1]),
        ("fr.block8.project.bias", vec![1792]),
        ("unit.fc.weight", vec![2, 1792 * 3 * 3]),
    ] {
        assert_eq!(weights.tensor(name).unwrap().shape(), shape, "{name}");
    }
}

#[test]
fn a_resumed_run_keeps_a_stateful_weighting_method_s_state() {
    // FAMO's logits and Adam moments, DWA's loss history and GradNorm's weights and
    // starting losses travel in the checkpoint.
    resumed_equals_straight("famo", &["--weighting", "famo"]);
    resumed_equals_straight("dwa", &["--weighting", "dwa"]);
    // GradNorm's layer in the paper network is the last shared Block8's projection.
    resumed_equals_straight("gradnorm", &["--weighting", "gradnorm"]);
    resumed_equals_straight(
        "gradnorm-paper",
        &["--weighting", "gradnorm", "--preset", "paper-small"],
    );
}

/// Three epochs straight, and one epoch resumed to three, end identical; the straight
/// run's directory.
fn resumed_equals_straight(name: &str, extra: &[&str]) -> std::path::PathBuf {
    // A constant learning rate, so that the 1-epoch run's schedule is the first epoch of
    // the 3-epoch one (a cosine schedule is laid out over the epochs asked for).
    let straight = temp_dir(&format!("straight-{name}"));
    train(
        &straight,
        &[&["--epochs", "3", "--schedule", "constant"], extra].concat(),
    );
    let resumed = temp_dir(&format!("resumed-{name}"));
    train(
        &resumed,
        &[&["--epochs", "1", "--schedule", "constant"], extra].concat(),
    );
    let (ok, out, err) = facemtl(&[
        "train",
        "--resume",
        resumed.to_str().unwrap(),
        "--epochs",
        "3",
        "--quiet",
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        !out.contains("epoch 1/3") && out.contains("epoch 2/3"),
        "resume should start at epoch 2:\n{out}"
    );
    let (a, b) = (summary(&straight), summary(&resumed));
    for key in [
        "steps",
        "fer_accuracy",
        "fr_identification_accuracy",
        "fr_verification_accuracy",
        "fr_verification_auc",
        "final_task_weights",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after resume");
    }
    let (a, b) = (
        std::fs::read(straight.join("checkpoint.safetensors")).unwrap(),
        std::fs::read(resumed.join("checkpoint.safetensors")).unwrap(),
    );
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    let differing: Vec<String> = a
        .names()
        .into_iter()
        .filter(|name| a.tensor(name).unwrap().data() != b.tensor(name).unwrap().data())
        .map(str::to_string)
        .collect();
    assert!(
        differing.is_empty(),
        "weights differ after resume: {differing:?}"
    );
    assert_eq!(
        std::fs::read_to_string(straight.join("metrics.csv")).unwrap(),
        std::fs::read_to_string(resumed.join("metrics.csv")).unwrap()
    );
    straight
}

#[test]
fn bad_input_gives_clear_errors() {
    let orl = common::cli::checkout_file("data/orl");
    let this_file = common::cli::checkout_file("tests/program.rs");
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--preset", "huge", "--quiet"], "--preset"),
        (&["train", "--weighting", "static:0.5", "--quiet"], "static"),
        (&["train", "--optimizer", "lbfgs", "--quiet"], "--optimizer"),
        (
            &["train", "--schedule", "piecewise:5,2", "--quiet"],
            "increase",
        ),
        (
            &[
                "train",
                "--data",
                "/no/such/folder",
                "--format",
                "orl",
                "--quiet",
            ],
            "/no/such/folder",
        ),
        (
            &["train", "--data", &orl, "--format", "png", "--quiet"],
            "--format",
        ),
        (&["train", "--batch", "1", "--quiet"], "--batch"),
        (&["train", "--epochs", "0", "--quiet"], "--epochs"),
        (
            &["eval", "--checkpoint", "/no/such/run"],
            "/no/such/run: no such file or directory",
        ),
        (&["train", "--resume", "/no/such/run"], "no such directory"),
        // Every numeric flag: finite and in range, checked before anything runs.
        (&["train", "--nuisance", "nan"], "not a finite number"),
        (&["train", "--identity-spread", "nan"], "--identity-spread"),
        (
            &["train", "--identity-spread", "inf"],
            "not a finite number",
        ),
        (&["train", "--identity-spread", "-1"], "[0, 10]"),
        (
            &["train", "--expression-strength", "nan"],
            "--expression-strength",
        ),
        (&["train", "--weight-decay", "nan"], "--weight-decay"),
        (&["train", "--unit-lr", "nan"], "--unit-lr"),
        (&["train", "--lr", "-1"], "above 0"),
        (&["train", "--clip-norm", "-1"], "0 or more"),
        (&["train", "--keep", "0"], "(0, 1]"),
        (&["train", "--val-fraction", "0.7"], "[0, 0.5)"),
        (
            &["gen-data", "--out", "/tmp/x", "--nuisance", "nan"],
            "finite",
        ),
        (
            &["gen-data", "--out", "/tmp/x", "--size", "1000000"],
            "[8, 1024]",
        ),
        (
            &[
                "gen-data",
                "--out",
                "/tmp/x",
                "--subjects",
                "100000",
                "--per-expression",
                "100",
            ],
            "GiB",
        ),
        (
            &["predict", "--checkpoint", "x", "--top-k", "0", "a.png"],
            "at least 1",
        ),
        // The path typed is named.
        (
            &["predict", "--checkpoint", "nowhere", "a.png"],
            "nowhere: no such file or directory",
        ),
        // --resume keeps the saved settings.
        (
            &[
                "train",
                "--resume",
                "/no/such/run",
                "--lr",
                "0.1",
                "--preset",
                "small",
            ],
            "--preset, --lr would change them",
        ),
        // A CSV is not a folder layout.
        (
            &["train", "--data", &this_file, "--format", "orl"],
            "is a file; --format orl reads a folder",
        ),
    ];
    for (args, needle) in cases {
        let (ok, out, err) = facemtl(args);
        assert!(!ok, "{args:?} should fail:\n{out}");
        assert!(
            err.contains(needle),
            "{args:?}: error should mention {needle:?}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    }
    // A backend name that names no backend: say which ones exist.
    let out = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .arg("info")
        .env("WGPU_BACKEND", "nonsense")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("names no backend") && err.contains("vulkan"),
        "{err}"
    );
    // No adapter on the asked backend: say what was tried and what to install.
    let out = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .arg("info")
        .env("WGPU_BACKEND", "webgpu")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no GPU adapter found")
            && err.contains("WebGPU")
            && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    // A corrupt checkpoint.
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("checkpoint.safetensors"), b"garbage").unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", dir.to_str().unwrap()]);
    assert!(!ok && err.contains("not a valid safetensors"), "{err}");
    // A loss that blows up stops the run and names the step.
    let dir = temp_dir("nan");
    let mut args = vec![
        "train",
        "--out",
        dir.to_str().unwrap(),
        "--epochs",
        "2",
        "--lr",
        "1e30",
        "--clip-norm",
        "0",
        "--optimizer",
        "sgd",
    ];
    args.extend_from_slice(TINY);
    let (ok, _, err) = facemtl(&args);
    assert!(
        // It diverges in the first step, before any checkpoint was written.
        !ok && err.contains("at step") && err.contains("none exists yet"),
        "{err}"
    );
}

#[test]
fn real_orl_faces_train_face_recognition_only() {
    let dir = temp_dir("orl");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/orl");
    let (ok, out, err) = facemtl(&[
        "train",
        "--data",
        root.to_str().unwrap(),
        "--format",
        "orl",
        "--out",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch",
        "16",
        "--quiet",
    ]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("no expression labels"), "{err}");
    let s = summary(&dir);
    assert!(
        s["fer_accuracy"].is_null() && !s["fr_identification_accuracy"].is_null(),
        "{s}"
    );
}

#[test]
fn skipped_entries_are_counted_in_the_summary() {
    let dir = temp_dir("skip");
    let faces = temp_dir("skip-faces");
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        faces.to_str().unwrap(),
        "--subjects",
        "4",
        "--per-expression",
        "2",
        "--size",
        "48",
    ]);
    assert!(ok, "{err}");
    let manifest = faces.join("manifest.csv");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "images/missing.png,synthetic001,anger\nimages/s001_anger_1.png,synthetic001,grumpy\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let args = [
        "train",
        "--data",
        manifest.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch",
        "8",
        "--folds",
        "2",
        "--quiet",
    ];
    let (ok, _, err) = facemtl(&args);
    assert!(
        !ok && err.contains("grumpy"),
        "without --skip-bad the bad row is an error: {err}"
    );
    let mut with_skip = args.to_vec();
    with_skip.push("--skip-bad");
    let (ok, out, err) = facemtl(&with_skip);
    assert!(ok, "{out}{err}");
    assert!(err.contains("skipped 2 bad entries"), "{err}");
    assert_eq!(summary(&dir)["skipped"].as_array().unwrap().len(), 2);
}

#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes() {
    let dir = temp_dir("interrupt");
    let mut args = vec!["train", "--out", dir.to_str().unwrap(), "--epochs", "200"];
    args.extend_from_slice(TINY);
    // Once the first epoch is done (its checkpoint written), press Ctrl-C.
    let stderr = interrupt(&args, "epoch 1/");
    assert!(
        stderr.contains("interrupted: checkpoint saved") && stderr.contains("--resume"),
        "{stderr}"
    );
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
            .unwrap();
    let saved_step = sidecar["step"].as_u64().unwrap();
    assert!(saved_step > 0);
    let (ok, out, err) = facemtl(&[
        "train",
        "--resume",
        dir.to_str().unwrap(),
        "--epochs",
        "3",
        "--quiet",
    ]);
    assert!(ok, "{out}{err}");
    // Every step of the three epochs logged once, in order, and counted in the summary.
    let steps: Vec<(u64, u64)> = csv::Reader::from_path(dir.join("metrics.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].parse().unwrap())
        })
        .collect();
    let per_epoch = steps.iter().filter(|(epoch, _)| *epoch == 1).count() as u64;
    assert!(
        per_epoch > 0 && saved_step > per_epoch,
        "saved at {saved_step}"
    );
    assert_eq!(
        steps.iter().map(|s| s.1).collect::<Vec<_>>(),
        (1..=3 * per_epoch).collect::<Vec<_>>()
    );
    assert_eq!(steps.last().unwrap().0, 3);
    assert_eq!(summary(&dir)["steps"].as_u64().unwrap(), 3 * per_epoch);
    // The interrupted epoch's row says it averages only the steps after the resume.
    let counted: Vec<u64> = csv::Reader::from_path(dir.join("epochs.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap()[1].parse().unwrap())
        .collect();
    assert_eq!(counted, [per_epoch, 2 * per_epoch - saved_step, per_epoch]);
}

#[test]
fn sigterm_saves_a_checkpoint_and_the_resumed_run_ends_as_an_uninterrupted_one() {
    let extra = ["--epochs", "3", "--schedule", "constant"];
    let straight = temp_dir("term-straight");
    train(&straight, &extra);
    let stopped = temp_dir("term-stopped");
    let mut args = vec!["train", "--out", stopped.to_str().unwrap()];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&extra);
    // What kill, systemd, Docker and batch schedulers send: the same save as Ctrl-C.
    let stderr = signal_after(&args, "epoch 1/", "TERM");
    assert!(
        stderr.contains("interrupted: checkpoint saved") && stderr.contains("--resume"),
        "{stderr}"
    );
    let (ok, out, err) = facemtl(&["train", "--resume", stopped.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}{err}");
    for file in ["metrics.csv", "checkpoint.safetensors"] {
        assert!(
            std::fs::read(straight.join(file)).unwrap()
                == std::fs::read(stopped.join(file)).unwrap(),
            "{file} differs from the uninterrupted run's"
        );
    }
}

/// Per-run test figures of a cross-validation's summary.json.
fn cv_runs(dir: &Path) -> Vec<serde_json::Value> {
    summary(dir)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("train_seconds");
            r
        })
        .collect()
}

#[test]
fn all_folds_aggregates_every_fold_and_resumes_after_an_interruption() {
    let straight = temp_dir("cv-straight");
    let stdout = train(&straight, &["--epochs", "2", "--all-folds"]);
    assert!(stdout.contains("cross-validation done"), "{stdout}");
    for file in ["cv.json", "summary.json", "folds.csv", "plots/folds.png"] {
        assert!(straight.join(file).is_file(), "missing {file}");
    }
    let runs = cv_runs(&straight);
    assert_eq!(runs.len(), 2);
    let s = summary(&straight);
    // The aggregate is the mean (and sample sd) of the runs' own summaries.
    let fer: Vec<f64> = (0..2)
        .map(|f| {
            summary(&straight.join(format!("seed-3/fold-{f}")))["fer_accuracy"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let mean = (fer[0] + fer[1]) / 2.0;
    let sd = (fer[0] - fer[1]).abs() / 2f64.sqrt();
    approx::assert_abs_diff_eq!(
        s["fer_accuracy"]["mean"].as_f64().unwrap(),
        mean,
        epsilon = 1e-6
    );
    approx::assert_abs_diff_eq!(
        s["fer_accuracy"]["sd"].as_f64().unwrap(),
        sd,
        epsilon = 1e-6
    );
    assert_eq!(s["fer_accuracy"]["n"], 2);
    let csv_rows = std::fs::read_to_string(straight.join("folds.csv")).unwrap();
    assert_eq!(csv_rows.lines().count(), 3, "{csv_rows}");

    // Interrupt the second fold, then resume: the same figures as the straight run.
    let resumed = temp_dir("cv-resumed");
    let mut full = vec![
        "train",
        "--out",
        resumed.to_str().unwrap(),
        "--epochs",
        "2",
        "--all-folds",
    ];
    full.extend_from_slice(TINY);
    let stderr = interrupt(&full, "cross-validation: run 2/2");
    assert!(
        stderr.contains(&format!("--resume {}", resumed.display())),
        "{stderr}"
    );
    assert!(!resumed.join("summary.json").exists());
    let (ok, out, err) = facemtl(&["train", "--resume", resumed.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}{err}");
    assert!(
        !out.contains("run 1/2") && out.contains("cross-validation done"),
        "the finished fold is read back, not retrained:\n{out}"
    );
    assert_eq!(cv_runs(&resumed), runs);
}

/// Per-method runs of a comparison's summary.json (timings left out).
fn compare_runs(dir: &Path) -> Vec<(String, serde_json::Value)> {
    summary(dir)["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut runs = m["runs"].clone();
            for r in runs.as_array_mut().unwrap() {
                r.as_object_mut().unwrap().remove("train_seconds");
            }
            (m["method"].as_str().unwrap().to_string(), runs)
        })
        .collect()
}

#[test]
fn compare_tabulates_every_method_and_resumes_after_an_interruption() {
    let mut args = vec!["compare", "--methods", "static,dynamic,fr", "--epochs", "2"];
    args.extend(TINY.iter().filter(|a| **a != "--quiet"));
    args.push("--quiet");
    let straight = temp_dir("compare-straight");
    let mut full = args.clone();
    full.extend(["--out", straight.to_str().unwrap()]);
    let (ok, out, err) = facemtl(&full);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("| static |") && out.contains("sign-flip"),
        "{out}"
    );
    for file in [
        "compare.json",
        "compare.md",
        "compare.csv",
        "summary.json",
        "plots/metrics.png",
        "plots/weights.png",
        "dynamic/seed-3/fold-1/summary.json",
    ] {
        assert!(straight.join(file).is_file(), "missing {file}");
    }
    let runs = compare_runs(&straight);
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["static", "dynamic", "fr"]);
    // Single-task FR: no FER figure; the paired differences against static are there.
    let s = summary(&straight);
    assert!(s["methods"][2]["fer_accuracy"].is_null(), "{s}");
    assert!(!s["methods"][1]["versus_static"][0].is_null(), "{s}");

    // Interrupted in the second method, resumed: the same table.
    let resumed = temp_dir("compare-resumed");
    let mut full = args.clone();
    full.extend(["--out", resumed.to_str().unwrap()]);
    let stderr = interrupt(&full, "compare: method 2/3");
    assert!(
        stderr.contains(&format!("--resume {}", resumed.display())),
        "{stderr}"
    );
    let (ok, out, err) = facemtl(&["compare", "--resume", resumed.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}{err}");
    assert_eq!(compare_runs(&resumed), runs);
    // Its settings are kept: a flag with --resume is refused.
    let (ok, _, err) = facemtl(&[
        "compare",
        "--resume",
        resumed.to_str().unwrap(),
        "--lr",
        "1",
    ]);
    assert!(!ok && err.contains("--lr would change them"), "{err}");
}

#[test]
fn trace_records_the_weights_and_batches_a_replay_needs() {
    let dir = temp_dir("trace");
    train(
        &dir,
        &["--epochs", "2", "--augment", "none", "--trace", "3"],
    );
    let trace = dir.join("trace");
    for step in 0..=3 {
        assert!(
            trace.join(format!("step-{step}.safetensors")).is_file(),
            "step {step}"
        );
    }
    assert!(
        !trace.join("step-4.safetensors").exists(),
        "only the steps asked"
    );
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("split.json")).unwrap()).unwrap();
    let train_set: Vec<u64> = split["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let rows: Vec<(u64, Vec<u64>)> = csv::Reader::from_path(trace.join("batches.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[2].split(' ').map(|i| i.parse().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3]);
    for (_, samples) in &rows {
        assert!(!samples.is_empty() && samples.len() <= 8);
        assert!(samples.iter().all(|i| train_set.contains(i)), "{samples:?}");
    }
    // The weights move between the saved steps; step 0 is where training started.
    let read = |step: u64| std::fs::read(trace.join(format!("step-{step}.safetensors"))).unwrap();
    assert_ne!(read(0), read(1));
    assert_ne!(read(2), read(3));
    // A replay cannot draw the augmentation: refused, naming the flag, before any file.
    let refused = temp_dir("trace-flips");
    let (ok, _, err) = facemtl(&[
        "train",
        "--out",
        refused.to_str().unwrap(),
        "--trace",
        "3",
        "--augment",
        "flips",
        "--quiet",
    ]);
    assert!(!ok && err.contains("--augment none"), "{err}");
    assert!(!refused.exists());
}

#[test]
fn rgb_input_and_landmark_alignment_train_end_to_end() {
    // gen-data's faces with their landmarks, trained as RGB (grayscale files become three
    // equal channels): the first convolution takes 3 channels, and eval and predict read
    // images the way the run did.
    let faces = common::cli::gen_faces("rgb-faces", "6", "2", &["--landmarks", "--nuisance", "2"]);
    let header = std::fs::read_to_string(faces.join("manifest.csv")).unwrap();
    assert!(header
        .starts_with("path,subject,expression,x,y,w,h,lex,ley,rex,rey,nx,ny,lmx,lmy,rmx,rmy\n"));
    let run = temp_dir("rgb-run");
    let (ok, out, err) = common::cli::train_on(&faces, &run, "2", &["--color", "rgb"]);
    assert!(ok, "{out}{err}");
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        weights
            .tensor("trunk.block1.1.conv.weight")
            .unwrap()
            .shape(),
        [16, 3, 3, 3]
    );
    let (ok, out, err) = facemtl(&["eval", "--checkpoint", run.to_str().unwrap()]);
    assert!(ok && out.contains("FER accuracy"), "{out}{err}");
    common::cli::assert_predicts(&run, &faces.join("images/s001_happiness_1.png"));
}
