//! Hostile-but-fair input, third round: no run mixed with another, a closed output never
//! stops a run or passes for success, no figure for a task that was not trained, one
//! source of truth for a run's settings, landmarks that cannot be a face refused and those
//! a little outside the photo taken, FER2013's own split kept, a resumed trace and
//! schedule that say what they do, changed data noticed, and errors that say what to do.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::cli::{facemtl, gen_faces, temp_dir, tiny_run_args, train_on, work_dir};
use facemtl::train::checkpoint::{SIDECAR_JSON, WEIGHTS};

/// A tiny synthetic run of one epoch in `out`, with `extra` flags.
fn tiny(out: &Path, extra: &[&str]) -> (bool, String, String) {
    let args = tiny_run_args(out, "1", extra);
    facemtl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn overwrite_never_leaves_the_old_run_beside_the_new_one() {
    let out = temp_dir("overwrite");
    let (ok, _, err) = tiny(&out, &[]);
    assert!(ok, "{err}");
    assert!(out.join("summary.json").exists() && out.join("plots/losses.png").exists());
    // A new run that diverges at once: whatever it leaves, nothing of the old run stays.
    let (ok, _, err) = tiny(&out, &["--overwrite", "--lr", "1e30", "--clip-norm", "0"]);
    for file in [WEIGHTS, SIDECAR_JSON, "summary.json"] {
        if out.join(file).exists() {
            let text = std::fs::read_to_string(out.join(file)).unwrap_or_default();
            assert!(
                file == WEIGHTS || text.contains("1e30") || text.contains("1e+30"),
                "{file} is the old run's ({ok}: {err})"
            );
        }
    }
    if !ok {
        assert!(!out.join(WEIGHTS).exists(), "{err}");
        assert!(
            !out.join("plots/losses.png").exists(),
            "the old run's plots stay"
        );
        assert!(
            !out.join("facemtl.lock").exists(),
            "a failed run leaves no lock"
        );
        let (ok, _, e) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
        assert!(!ok && e.contains("no checkpoint"), "{e}");
        let (ok, _, e) = facemtl(&["train", "--resume", out.to_str().unwrap()]);
        assert!(!ok, "{e}");
    }
    // Killed before its first save: the folder holds the new run's files alone.
    let (ok, _, err) = tiny(&out, &["--overwrite"]);
    assert!(ok, "{err}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .args(tiny_run_args(&out, "500", &["--overwrite"]))
        .current_dir(work_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its opening line comes once the data has loaded and the old run is gone.
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.starts_with("training"))));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join(WEIGHTS).exists() && !out.join("summary.json").exists(),
        "the old run's checkpoint and summary stay beside the new run's split"
    );
}

/// Runs facemtl with `args`, reads its first stdout line, closes the pipe, and returns
/// (exit status, stderr).
fn read_one_line_then_close(args: &[String]) -> (std::process::ExitStatus, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .args(args)
        .current_dir(work_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_never_stops_training_and_is_an_error_where_the_output_is_the_result() {
    let out = temp_dir("closed-pipe");
    let args = tiny_run_args(&out, "2", &[]);
    let (status, err) = read_one_line_then_close(&args);
    assert!(status.success(), "{status:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.join(WEIGHTS).exists() && out.join("summary.json").exists(),
        "the run ends with its files"
    );
    assert!(!out.join("facemtl.lock").exists());
    assert_eq!(json(&out.join(SIDECAR_JSON))["epoch"], 2);
    assert!(err.contains("standard output was closed"), "{err}");
    // Started with stdout closed: the commands whose answer is what they print refuse.
    for command in ["info", "eval --checkpoint RUN"] {
        let line = format!(
            "exec {} {} >&-",
            env!("CARGO_BIN_EXE_facemtl"),
            command.replace("RUN", out.to_str().unwrap())
        );
        let output = Command::new("bash")
            .args(["-c", &line])
            .current_dir(work_dir())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && err.contains("standard output is closed"),
            "{command}: {err}"
        );
    }
}

#[test]
fn a_huge_batch_for_info_is_an_error_before_any_allocation() {
    let (ok, _, err) = facemtl(&["info", "--plans", "--batch", "100000000"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("--batch 100000000") && err.contains("give --batch"),
        "{err}"
    );
    assert!(
        !err.contains("memory allocation") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn ci_sets_the_mode_only_of_a_runtime_dir_it_made() {
    use std::os::unix::fs::PermissionsExt;
    let script = format!("{}/.ci/runtime_dir.sh", env!("CARGO_MANIFEST_DIR"));
    let given = temp_dir("xdg-given");
    std::fs::create_dir_all(&given).unwrap();
    std::fs::set_permissions(&given, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let output = Command::new("bash")
        .args(["-c", &format!(". {script}; echo \"$XDG_RUNTIME_DIR\"")])
        .env("XDG_RUNTIME_DIR", &given)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        given.to_str().unwrap()
    );
    let mode = std::fs::metadata(&given).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "a given directory keeps its mode");
    // None given: one is made, private to its user.
    let tmp = temp_dir("xdg-made");
    std::fs::create_dir_all(&tmp).unwrap();
    let output = Command::new("bash")
        .args(["-c", &format!(". {script}; echo \"$XDG_RUNTIME_DIR\"")])
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let made = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(made.starts_with(&tmp), "{made:?}");
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_task_that_was_not_trained_has_no_figure() {
    for (tasks, absent, present) in [
        ("fr", "fer_accuracy", "fr_identification_accuracy"),
        ("fer", "fr_verification_auc", "fer_accuracy"),
    ] {
        let out = temp_dir(&format!("only-{tasks}"));
        let (ok, stdout, err) = tiny(&out, &["--tasks", tasks]);
        assert!(ok, "{err}");
        let summary = json(&out.join("summary.json"));
        assert!(summary[absent].is_null(), "{tasks}: {summary}");
        assert!(summary[present].is_number(), "{tasks}: {summary}");
        assert_eq!(summary["trained_tasks"], tasks);
        if tasks == "fr" {
            assert!(summary["metrics"]["fer_confusion"]
                .as_array()
                .unwrap()
                .is_empty());
        }
        let other = if tasks == "fr" { "FER" } else { "FR" };
        assert!(
            stdout.contains(&format!(
                "{other} not trained (the run was --tasks {tasks})"
            )),
            "{stdout}"
        );
    }
    // Flags that act only on what a one-task run lacks are refused, naming them.
    for (tasks, flag) in [
        ("fer", "--center-loss"),
        ("fer", "--weight-grad-to-trunk"),
        ("fr", "--raw-unit-logits"),
    ] {
        let (ok, _, err) = tiny(&temp_dir("refused-flag"), &["--tasks", tasks, flag]);
        assert!(
            !ok && err.contains(flag) && err.contains("no effect"),
            "{err}"
        );
    }
    let (ok, _, err) = tiny(
        &temp_dir("refused-flag"),
        &["--tasks", "fr", "--unit-lr", "0.1"],
    );
    assert!(!ok && err.contains("--unit-lr"), "{err}");
}

#[test]
fn a_validation_split_of_one_subject_gives_one_threshold_with_its_true_origin() {
    // 6 subjects in 2 folds: 3 train, and 20% of them (1 subject) validate.
    let out = temp_dir("one-validation-subject");
    let (ok, stdout, err) = tiny(&out, &["--val-fraction", "0.2"]);
    assert!(ok, "{err}");
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["validation_subjects"], 1);
    assert!(err.contains("no pairs of different people"), "{err}");
    let accuracy = summary["fr_verification_accuracy"].as_f64().unwrap();
    assert!(
        stdout.contains(&format!("FR verification accuracy {accuracy:.3}")),
        "{stdout}"
    );
    let sidecar = json(&out.join(SIDECAR_JSON));
    assert_eq!(sidecar["threshold_chosen_on"], "training-subjects");
    let (ok, stdout, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("chosen on training subjects' pairs: the run had no validation split with two or more subjects"),
        "{stdout}"
    );
    assert!(!stdout.contains("stopped before"), "{stdout}");
    assert!(
        stdout.contains(&format!("FR verification accuracy:    {accuracy:.4}")),
        "eval gives train's figure: {stdout}"
    );
}

#[test]
fn the_readable_copy_of_a_run_s_settings_cannot_disagree_with_the_state() {
    let out = temp_dir("edited-sidecar");
    let (ok, _, err) = tiny(&out, &[]);
    assert!(ok, "{err}");
    let path = out.join(SIDECAR_JSON);
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replacen("\"color\": \"gray\"", "\"color\": \"rgb\"", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();
    for args in [
        vec!["eval", "--checkpoint", out.to_str().unwrap()],
        vec!["train", "--resume", out.to_str().unwrap(), "--epochs", "2"],
    ] {
        let (ok, _, err) = facemtl(&args);
        assert!(
            !ok && err.contains("disagree on config.color")
                && err.contains(SIDECAR_JSON)
                && err.contains("checkpoint.state.safetensors"),
            "{err}"
        );
    }
    // Without the state file the copy is the only one, and the weights are checked
    // against it: the wrong channel count names the weights file.
    std::fs::remove_file(out.join("checkpoint.state.safetensors")).unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(
        !ok && err.contains(WEIGHTS) && err.contains("--color rgb") && err.contains("edited"),
        "{err}"
    );
    // Whitespace alone is no disagreement.
    std::fs::write(&path, original.replace("\n", "\n  ")).unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(ok, "{err}");
}

#[test]
fn landmarks_a_little_outside_the_photo_train_and_mirrored_ones_are_counted() {
    let data = gen_faces("marks-outside", "6", "1", &["--landmarks"]);
    let manifest = data.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let header = text.lines().next().unwrap();
    let columns: Vec<&str> = header.split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let (lex, rex, ley, rey) = (at("lex"), at("rex"), at("ley"), at("rey"));
    let rows: Vec<String> = text
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            let shift = |v: &str, by: f32| format!("{}", v.parse::<f32>().unwrap() + by);
            match i {
                // The whole face moved 20 px left: the left eye and mouth corner leave the
                // photo, as for a face its border cuts.
                0 => {
                    for c in [lex, rex, at("nx"), at("lmx"), at("rmx")] {
                        f[c] = shift(&f[c], -20.0);
                    }
                }
                // The eyes swapped.
                1 => {
                    f.swap(lex, rex);
                    f.swap(ley, rey);
                }
                _ => {}
            }
            f.join(",")
        })
        .collect();
    std::fs::write(&manifest, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let (ok, _, err) = train_on(&manifest, &temp_dir("marks-strict"), "1", &[]);
    assert!(
        !ok && err.contains("mirrored") && err.contains("manifest.csv:3"),
        "{err}"
    );
    let out = temp_dir("marks-skip");
    let (ok, _, err) = train_on(&manifest, &out, "1", &["--skip-bad"]);
    assert!(ok, "{err}");
    let skipped = json(&out.join("summary.json"))["skipped"].clone();
    let skipped = skipped.as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].as_str().unwrap().contains("mirrored"));
}

#[test]
fn fer2013_keeps_its_official_split_and_a_manifest_is_pointed_to_its_format() {
    let dir = temp_dir("fer2013-usage");
    std::fs::create_dir_all(&dir).unwrap();
    let pixels = |k: usize| {
        (0..48 * 48)
            .map(|i| ((i * (k + 3) + k * 17) % 251).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut text = String::from("emotion,pixels,Usage\n");
    for k in 0..36 {
        let usage = [
            "Training",
            "Training",
            "Training",
            "Training",
            "PublicTest",
            "PrivateTest",
        ][k % 6];
        text += &format!("{},{},{usage}\n", [3, 6][k % 2], pixels(k));
    }
    let csv = dir.join("fer.csv");
    std::fs::write(&csv, text).unwrap();
    let out = temp_dir("fer2013-usage-run");
    let (ok, _, err) = facemtl(&[
        "train",
        "--data",
        csv.to_str().unwrap(),
        "--format",
        "fer2013",
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch",
        "8",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("official split") && err.contains("24 training, 6 validation"),
        "{err}"
    );
    let split = json(&out.join("split.json"));
    let lines = |key: &str| -> Vec<u64> {
        split[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    // Rows k % 6 == 5 are PrivateTest: the test, never trained on.
    assert_eq!(
        lines("test"),
        (0..36).filter(|k| k % 6 == 5).collect::<Vec<_>>()
    );
    assert_eq!(
        lines("validation"),
        (0..36).filter(|k| k % 6 == 4).collect::<Vec<_>>()
    );
    assert_eq!(lines("train").len(), 24);
    // A manifest given as FER2013.
    let faces = gen_faces("fer2013-manifest", "2", "1", &[]);
    let (ok, _, err) = facemtl(&[
        "train",
        "--data",
        faces.join("manifest.csv").to_str().unwrap(),
        "--format",
        "fer2013",
        "--out",
        temp_dir("fer2013-wrong").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--format manifest"), "{err}");
}

#[test]
fn a_resumed_trace_goes_on_tracing_and_a_stretched_schedule_is_said() {
    let out = temp_dir("trace-resume");
    let (ok, _, err) = tiny(&out, &["--trace", "1000", "--augment", "none"]);
    assert!(ok, "{err}");
    let rows = |out: &Path| {
        std::fs::read_to_string(out.join("trace/batches.csv"))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    let first = rows(&out);
    let steps = json(&out.join(SIDECAR_JSON))["step"].as_u64().unwrap() as usize;
    assert_eq!(first, steps);
    let (ok, _, err) = facemtl(&["train", "--resume", out.to_str().unwrap(), "--epochs", "2"]);
    assert!(ok, "{err}");
    assert_eq!(rows(&out), 2 * steps, "the resumed epoch is traced too");
    assert!(out
        .join(format!("trace/step-{}.safetensors", 2 * steps))
        .exists());
    // The cosine schedule laid out over 2 epochs instead of 1: the rate jumps back up.
    assert!(
        err.contains("learning-rate schedule") && err.contains("over 2 epochs instead of 1"),
        "{err}"
    );
}

#[test]
fn changed_data_is_noticed_and_odd_names_are_not_rewritten() {
    let data = gen_faces("changing", "6", "1", &[]);
    let out = temp_dir("changing-run");
    let (ok, _, err) = train_on(&data, &out, "1", &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(ok && !err.contains("changed"), "{err}");
    // One image changed: its pixels inverted.
    let images = data.join("images");
    let changed = images.join("s001_neutral_1.png");
    let mut picture = image::open(&changed).unwrap().to_luma8();
    image::imageops::invert(&mut picture);
    picture.save(&changed).unwrap();
    let (ok, _, err) = facemtl(&["eval", "--checkpoint", out.to_str().unwrap()]);
    assert!(
        ok && err.contains("have changed since this run saved"),
        "{err}"
    );
    let (_, _, err) = facemtl(&["train", "--resume", out.to_str().unwrap(), "--epochs", "2"]);
    assert!(err.contains("have changed since this run saved"), "{err}");

    // A file name that is not UTF-8 is refused by embed, not written as another name.
    use std::os::unix::ffi::OsStrExt;
    let odd = images.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    std::fs::copy(images.join("s002_fear_1.png"), &odd).unwrap();
    let csv = temp_dir("odd-embed.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .arg("embed")
        .arg("--checkpoint")
        .arg(&out)
        .arg("--out")
        .arg(&csv)
        .arg(&odd)
        .current_dir(work_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("not UTF-8"),
        "{err}"
    );
    assert!(!csv.exists());
}

#[test]
fn vague_errors_say_what_to_do() {
    let out = temp_dir("vague").to_str().unwrap().to_string();
    for (args, needles) in [
        (vec!["--crop-margin", "-1"], vec!["[0, 2]"]),
        (vec!["--batch", "-1"], vec!["at least 2"]),
        (vec!["--epochs", "-1"], vec!["at least 1"]),
        (
            vec!["--identity-spread", "1e308"],
            vec!["out of range", "[0, 10]"],
        ),
        (
            vec!["--weighting", "static:inf,1"],
            vec!["not a finite number"],
        ),
    ] {
        let mut all = vec!["train", "--out", &out];
        all.extend_from_slice(&args);
        let (ok, _, err) = facemtl(&all);
        assert!(!ok, "{args:?}");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert!(!err.contains("0 or more"), "{args:?}: {err}");
    }
    let (ok, _, err) = facemtl(&["gen-data", "--out", &out, "--size", "-1"]);
    assert!(!ok && err.contains("at least 8"), "{err}");

    // --gallery given an image.
    let faces = gen_faces("vague-faces", "2", "1", &[]);
    let image = faces.join("images/s001_neutral_1.png");
    let run = temp_dir("vague-run");
    let (ok, _, err) = tiny(&run, &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = facemtl(&[
        "identify",
        "--checkpoint",
        run.to_str().unwrap(),
        "--gallery",
        image.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("is an image") && err.contains("manifest"),
        "{err}"
    );

    // A full disk during gen-data (an image's path leads to /dev/full): a write error, and
    // no manifest listing what was not written.
    let full = temp_dir("full-disk");
    std::fs::create_dir_all(full.join("images")).unwrap();
    std::os::unix::fs::symlink("/dev/full", full.join("images/s001_neutral_1.png")).unwrap();
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        full.to_str().unwrap(),
        "--overwrite",
        "--subjects",
        "2",
        "--per-expression",
        "1",
    ]);
    assert!(
        !ok && err.contains("cannot write") && !err.contains("cannot read"),
        "{err}"
    );
    assert!(!full.join("manifest.csv").exists());
    assert!(!full.join("manifest.csv.partial").exists());
}
