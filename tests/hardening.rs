//! Hardening: a damaged checkpoint is an error naming the file (never a silent load), a
//! run directory is written by one run at a time, --resume cannot shorten a run, a
//! gen-data folder works as --data, eval needs no optimiser state, and a fuzz test flips
//! bytes of a checkpoint: a clear error or a verified, finite load, never a panic.

mod common;

use std::path::Path;

use common::cli::{facemtl, gen_faces, temp_dir, train_on};

use facemtl::autodiff::ParamStore;
use facemtl::model::{MultiTaskNet, Preset};
use facemtl::train::checkpoint::{Checkpoint, STATE, WEIGHTS};
use rand::{Rng, SeedableRng};

/// A finished tiny run in `dir`.
fn tiny_run(dir: &Path, epochs: &str) {
    let args = common::cli::tiny_run_args(dir, epochs, &[]);
    let (ok, out, err) = facemtl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{out}{err}");
}

#[test]
fn damaged_checkpoints_are_errors_naming_the_file() {
    let dir = temp_dir("damaged");
    tiny_run(&dir, "1");
    let weights = dir.join(WEIGHTS);
    let good = std::fs::read(&weights).unwrap();
    // 16 bytes overwritten in the middle of the tensor data.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid..mid + 16].copy_from_slice(&[0x4d; 16]);
    std::fs::write(&weights, &bad).unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", dir.to_str().unwrap()]);
    assert!(
        !ok && err.contains("damaged") && err.contains(WEIGHTS),
        "{err}"
    );
    let (ok, _, err) = facemtl(&["train", "--resume", dir.to_str().unwrap(), "--epochs", "2"]);
    assert!(
        !ok && err.contains("damaged"),
        "resume must not go on from it: {err}"
    );
    // NaN bytes: a non-finite value is named as such.
    let mut nan = good.clone();
    nan[mid & !3..(mid & !3) + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&weights, &nan).unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", dir.to_str().unwrap()]);
    assert!(!ok && err.contains("non-finite"), "{err}");

    // The intact checkpoint evaluates without its optimiser state file.
    std::fs::write(&weights, &good).unwrap();
    std::fs::remove_file(dir.join(STATE)).unwrap();
    let (ok, out, err) = facemtl(&["eval", "--checkpoint", dir.to_str().unwrap()]);
    assert!(ok && out.contains("FER accuracy"), "{out}{err}");
    let (ok, _, err) = facemtl(&["train", "--resume", dir.to_str().unwrap(), "--epochs", "2"]);
    assert!(!ok && err.contains("needed to resume"), "{err}");
}

#[test]
fn flipped_bytes_never_load_silently() {
    let dir = temp_dir("fuzz");
    tiny_run(&dir, "1");
    let weights = dir.join(WEIGHTS);
    let good = std::fs::read(&weights).unwrap();
    let gpu = common::gpu();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (mut errors, mut loads) = (0, 0);
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
        }
        std::fs::write(&weights, &bytes).unwrap();
        match Checkpoint::load_model(&dir) {
            Err(e) => {
                assert!(!e.is_empty());
                errors += 1;
            }
            Ok(ck) => {
                // Only a flip that leaves every tensor's bytes alone (in the header's
                // spacing or metadata) may load; what loads is the original.
                let mut store = ParamStore::new();
                let fr = ck.sidecar.fr_classes.len();
                MultiTaskNet::new(gpu, &mut store, Preset::Small, fr, 7, 0).unwrap();
                ck.restore_model(gpu, &store).unwrap();
                std::fs::write(&weights, &good).unwrap();
                let original = Checkpoint::load_model(&dir).unwrap();
                let mut reference = ParamStore::new();
                MultiTaskNet::new(gpu, &mut reference, Preset::Small, fr, 7, 0).unwrap();
                original.restore_model(gpu, &reference).unwrap();
                for id in store.ids() {
                    assert_eq!(
                        store.get(id).to_vec(gpu).unwrap(),
                        reference.get(id).to_vec(gpu).unwrap(),
                        "{} changed yet loaded",
                        store.name(id)
                    );
                }
                loads += 1;
            }
        }
    }
    assert!(errors > 250, "{errors} errors, {loads} silent loads");
}

#[test]
fn one_run_at_a_time_per_directory() {
    let dir = temp_dir("locked");
    std::fs::create_dir_all(&dir).unwrap();
    // This test process stands in for a run holding the directory.
    std::fs::write(dir.join("facemtl.lock"), std::process::id().to_string()).unwrap();
    let (ok, _, err) = facemtl(&[
        "train",
        "--out",
        dir.to_str().unwrap(),
        "--subjects",
        "6",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(
        !ok && err.contains("another facemtl run") && err.contains(&std::process::id().to_string()),
        "{err}"
    );
    assert!(!dir.join("metrics.csv").exists(), "nothing written");
    // A lock whose process is gone is stale: the run takes it over and removes it at the end.
    std::fs::write(dir.join("facemtl.lock"), "4000000000").unwrap();
    tiny_run(&dir, "1");
    assert!(!dir.join("facemtl.lock").exists());
}

#[test]
fn resume_cannot_shorten_a_run_and_few_subjects_are_noted() {
    let dir = temp_dir("shorten");
    tiny_run(&dir, "2");
    let before = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let (ok, _, err) = facemtl(&["train", "--resume", dir.to_str().unwrap(), "--epochs", "1"]);
    assert!(!ok && err.contains("already trained 2 epochs"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.json")).unwrap(),
        before
    );
    // 6 subjects cannot make 7 folds: said, not silently 6.
    let (ok, out, err) = facemtl(&[
        "train",
        "--out",
        temp_dir("folds").to_str().unwrap(),
        "--subjects",
        "6",
        "--folds",
        "7",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--val-fraction",
        "0",
        "--quiet",
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("only 6 subjects, so 6 folds instead of the 7 asked"),
        "{err}"
    );
}

#[test]
fn a_gen_data_folder_is_read_through_its_manifest() {
    let faces = gen_faces("faces", "6", "2", &[]);
    // Excel's "CSV UTF-8" puts a byte-order mark first: still a manifest.
    let manifest = faces.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("\u{feff}{text}")).unwrap();
    let (ok, stdout, err) = train_on(&faces, &temp_dir("faces-run"), "1", &[]);
    assert!(ok, "{stdout}{err}");
    assert!(stdout.contains("manifest.csv"), "{stdout}");
}

// ---- Results that look fine and are not, and errors that mislead ----

#[test]
fn an_image_listed_twice_is_refused_or_dropped_with_skip_bad() {
    let data = gen_faces("dup-faces", "6", "1", &[]);
    let manifest = data.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let first = text.lines().nth(1).unwrap().to_string();
    // The same path twice.
    std::fs::write(&manifest, format!("{text}{first}\n")).unwrap();
    let out = temp_dir("dup-run");
    let (ok, _, err) = train_on(&manifest, &out, "1", &[]);
    assert!(
        !ok && err.contains("listed twice")
            && err.contains("the same file")
            && err.contains("manifest.csv:"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "a run that could not start leaves no directory"
    );
    // The same pixels under another name.
    let original = first.split(',').next().unwrap();
    std::fs::copy(data.join(original), data.join("images/copy.png")).unwrap();
    let copy = first.replacen(original, "images/copy.png", 1);
    std::fs::write(&manifest, format!("{text}{copy}\n")).unwrap();
    let (ok, _, err) = train_on(&manifest, &out, "1", &[]);
    assert!(
        !ok && err.contains("the same pixels") && err.contains("copy.png"),
        "{err}"
    );
    // --skip-bad drops the later copy and counts it.
    let (ok, stdout, err) = train_on(&manifest, &out, "1", &["--skip-bad"]);
    assert!(ok, "{stdout}{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].as_str().unwrap().contains("copy.png"));
}

#[test]
fn a_task_without_two_classes_or_labels_is_refused_or_dropped() {
    // One expression class: FER cannot train.
    let data = gen_faces("one-class", "6", "1", &[]);
    let manifest = data.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let happy: String = text
        .lines()
        .filter(|l| l.starts_with("path") || l.ends_with(",happiness"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&manifest, happy).unwrap();
    let (ok, _, err) = train_on(
        &manifest,
        &temp_dir("one-class-fer"),
        "1",
        &["--tasks", "fer"],
    );
    assert!(
        !ok && err.contains("--tasks fer") && err.contains("found 1 (happiness)"),
        "{err}"
    );
    let out = temp_dir("one-class-both");
    let (ok, stdout, err) = train_on(&manifest, &out, "1", &[]);
    assert!(ok, "{stdout}{err}");
    assert!(err.contains("training face recognition only"), "{err}");
    assert!(
        stdout.contains("tasks fr") && !stdout.contains("L_FER"),
        "{stdout}"
    );
    assert!(
        !out.join("plots/weights.png").exists(),
        "no weight chart for one task"
    );
    // No expression labels at all (ORL), and no subject labels.
    let orl = common::cli::checkout_file("data/orl");
    let (ok, _, err) = facemtl(&[
        "train", "--data", &orl, "--format", "orl", "--tasks", "fer", "--quiet",
    ]);
    assert!(!ok && err.contains("no expression labels"), "{err}");
    let unlabelled: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},,{}\n", f[0], f[2])
        })
        .collect::<String>()
        .replacen("path,,expression", "path,subject,expression", 1);
    std::fs::write(&manifest, unlabelled).unwrap();
    let (ok, _, err) = train_on(&manifest, &temp_dir("no-subjects"), "1", &["--tasks", "fr"]);
    assert!(!ok && err.contains("no subject labels"), "{err}");
}

#[test]
fn an_untrained_head_is_never_reported() {
    let data = gen_faces("fr-only", "6", "1", &[]);
    let out = temp_dir("fr-only-run");
    let (ok, stdout, err) = train_on(&data, &out, "1", &["--tasks", "fr"]);
    assert!(ok, "{stdout}{err}");
    let (ok, stdout, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("FER accuracy:                not trained")
            && !stdout.contains("confusion"),
        "{stdout}"
    );
    let image = data.join("images/s001_happiness_1.png");
    let (ok, stdout, err) = facemtl(&[
        "predict",
        "--checkpoint",
        out.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("identity:")
            && !stdout.contains("expression: ")
            && stdout.contains("trained for identities only"),
        "{stdout}"
    );
    // The preamble says only which adapter: the speed warning is for training.
    assert!(!err.contains("slower"), "{err}");
}

#[test]
fn eval_on_the_training_manifest_scores_trained_subjects_apart() {
    let data = gen_faces("eval-own", "6", "1", &[]);
    let out = temp_dir("eval-own-run");
    let (ok, stdout, err) = train_on(&data, &out, "1", &[]);
    assert!(ok, "{stdout}{err}");
    let (ok, stdout, err) = facemtl(&[
        "eval",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // 2 folds of 6 subjects: 3 trained on (21 images), 3 never seen (21 images).
    assert!(
        stdout.contains("never trained on: 21 images of 3 subjects")
            && stdout.contains("subjects the checkpoint trained on: 21 images of 3 subjects"),
        "{stdout}"
    );
}

#[test]
fn run_files_are_validated_and_mismatches_named() {
    let dir = temp_dir("validate");
    tiny_run(&dir, "1");
    let json_path = dir.join("checkpoint.json");
    let good = std::fs::read_to_string(&json_path).unwrap();
    let mut sidecar: serde_json::Value = serde_json::from_str(&good).unwrap();
    // eval reads checkpoint.json only when the state file does not match.
    std::fs::remove_file(dir.join(STATE)).unwrap();
    let eval = |s: &serde_json::Value| {
        std::fs::write(&json_path, serde_json::to_string(s).unwrap()).unwrap();
        facemtl(&["eval", "--checkpoint", dir.to_str().unwrap()])
    };
    let mut bad = sidecar.clone();
    bad["verification_threshold"] = serde_json::json!(2.0);
    let (ok, _, err) = eval(&bad);
    assert!(
        !ok && err.contains("checkpoint.json") && err.contains("[-1, 1]"),
        "{err}"
    );
    let mut bad = sidecar.clone();
    bad["format_version"] = serde_json::json!(1);
    let (ok, _, err) = eval(&bad);
    assert!(!ok && err.contains("format version 1"), "{err}");
    let mut bad = sidecar.clone();
    bad["config"]["preset"] = serde_json::json!("medium");
    let (ok, _, err) = eval(&bad);
    assert!(
        !ok && err.contains("checkpoint.json")
            && err.contains("checkpoint.safetensors")
            && err.contains("preset small"),
        "{err}"
    );
    let classes = sidecar["fer_classes"].as_array_mut().unwrap();
    classes.pop();
    let (ok, _, err) = eval(&sidecar);
    assert!(
        !ok && err.contains("FER head has 7 outputs") && err.contains("lists 6"),
        "{err}"
    );
    std::fs::write(&json_path, good).unwrap();
    // A state file of another save: named as such when resuming.
    let other = temp_dir("validate-other");
    tiny_run(&other, "2");
    std::fs::copy(other.join(STATE), dir.join(STATE)).unwrap();
    let (ok, _, err) = facemtl(&["train", "--resume", dir.to_str().unwrap(), "--epochs", "2"]);
    assert!(!ok && err.contains("belongs to another"), "{err}");
}

#[test]
fn identical_runs_write_identical_files() {
    let (a, b) = (temp_dir("same-a"), temp_dir("same-b"));
    tiny_run(&a, "1");
    tiny_run(&b, "1");
    // (The state file and checkpoint.json also record the seconds trained.)
    for file in [WEIGHTS, "metrics.csv"] {
        assert!(
            std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
            "{file} differs between two runs of the same seed"
        );
    }
}

#[test]
fn misleading_errors_say_what_is_wrong() {
    let file = temp_dir("a-file");
    std::fs::write(&file, "x").unwrap();
    let missing = temp_dir("missing-run");
    let cv = temp_dir("cv-dir");
    std::fs::create_dir_all(&cv).unwrap();
    std::fs::write(cv.join("cv.json"), "{}").unwrap();
    let orl = common::cli::checkout_file("data/orl");
    let missing_ck = format!("{}/missing", missing.display());
    let missing_wanted = [missing_ck.as_str(), "no such file"];
    let cases: Vec<(Vec<&str>, &[&str], &[&str])> = vec![
        (
            vec!["train", "--subjects", "99999999999", "--quiet"],
            &["--subjects"],
            &["--size"],
        ),
        (
            vec!["train", "--seed", "-1"],
            &["negative"],
            &["unexpected argument"],
        ),
        (
            vec!["train", "--fold", "-1"],
            &["negative"],
            &["unexpected argument"],
        ),
        (
            vec!["eval", "--checkpoint", "x", "--fold", "-2"],
            &["negative"],
            &[],
        ),
        (
            vec!["train", "--epochs", "18446744073709551616"],
            &["too large"],
            &["not a whole number"],
        ),
        (
            vec!["compare", "--methods", "static,foo", "--out", "/tmp/never"],
            &["--methods", "\"foo\"", "static, fr, fer", "mgda"],
            &[],
        ),
        (
            vec!["train", "--data", &orl, "--format", "ck+"],
            &["cohn-kanade-images", ".pgm"],
            &[],
        ),
        (
            vec!["train", "--data", &orl, "--format", "oulu"],
            &["P001/Anger"],
            &[],
        ),
        (
            vec!["train", "--out", file.to_str().unwrap()],
            &["is a file, not a directory"],
            &["lock"],
        ),
        (
            vec!["gen-data", "--out", file.to_str().unwrap()],
            &["is a file"],
            &[],
        ),
        (
            vec!["eval", "--checkpoint", &missing_ck],
            &missing_wanted,
            &[],
        ),
        (
            vec!["eval", "--checkpoint", cv.to_str().unwrap()],
            &["seed-S/fold-F"],
            &[],
        ),
        (
            vec!["train", "--resume", missing.to_str().unwrap()],
            &["no such directory"],
            &[],
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let (ok, out, err) = facemtl(&args);
        assert!(!ok, "{args:?} should fail:\n{out}");
        for w in wanted {
            assert!(err.contains(w), "{args:?}: should say {w:?}:\n{err}");
        }
        for u in unwanted {
            assert!(!err.contains(u), "{args:?}: should not say {u:?}:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        !missing.exists(),
        "--resume of a missing directory creates nothing"
    );
    // gen-data lists no --adapter: it uses no GPU.
    let (ok, help, _) = facemtl(&["gen-data", "--help"]);
    assert!(ok && !help.contains("--adapter"), "{help}");
}

#[test]
fn gen_data_refuses_a_directory_that_holds_files() {
    let dir = gen_faces("gen-twice", "2", "1", &[]);
    let manifest = std::fs::read(dir.join("manifest.csv")).unwrap();
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        dir.to_str().unwrap(),
        "--subjects",
        "3",
    ]);
    assert!(
        !ok && err.contains("not empty") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("manifest.csv")).unwrap(), manifest);
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        dir.to_str().unwrap(),
        "--subjects",
        "3",
        "--overwrite",
    ]);
    assert!(ok, "{err}");
    assert_ne!(std::fs::read(dir.join("manifest.csv")).unwrap(), manifest);
}

#[test]
fn failed_methods_and_diverged_runs_are_reported_as_failures() {
    // Every step diverges at once: no checkpoint exists, and the message says so.
    let out = temp_dir("diverged");
    let (ok, _, err) = facemtl(&[
        "train",
        "--out",
        out.to_str().unwrap(),
        "--subjects",
        "6",
        "--per-expression",
        "1",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--val-fraction",
        "0",
        "--lr",
        "1e30",
        "--clip-norm",
        "0",
        "--quiet",
    ]);
    assert!(
        !ok && err.contains("none exists yet") && !err.contains("keeping the last"),
        "{err}"
    );
    // compare: a method without labels for its task fails, and the command exits non-zero.
    let orl = common::cli::checkout_file("data/orl");
    let dir = temp_dir("compare-fail");
    let (ok, stdout, err) = facemtl(&[
        "compare",
        "--data",
        &orl,
        "--format",
        "orl",
        "--methods",
        "fr,fer",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--batch",
        "16",
        "--val-fraction",
        "0",
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!ok, "{stdout}{err}");
    assert!(
        stdout.contains("fer failed") && stdout.contains("no expression labels"),
        "{stdout}"
    );
    assert!(err.contains("1 of 2 methods failed (fer)"), "{err}");
}

#[test]
fn the_run_records_what_it_used() {
    let out = temp_dir("folds-used");
    let (ok, stdout, err) = facemtl(&[
        "train",
        "--out",
        out.to_str().unwrap(),
        "--subjects",
        "3",
        "--per-expression",
        "2",
        "--folds",
        "7",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--val-fraction",
        "0",
    ]);
    assert!(ok, "{stdout}{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["config"]["folds"], 3,
        "the folds used, not the 7 asked"
    );
    // Flag values, not debug names; no "0 img/s" for an epoch of one (untimed) step.
    assert!(
        stdout.contains("tasks both") && !stdout.contains("Both"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(" 0 img/s") && stdout.contains("- img/s"),
        "{stdout}"
    );
    assert!(
        err.contains("software (CPU) adapter") || !err.contains("llvmpipe"),
        "{err}"
    );
}
