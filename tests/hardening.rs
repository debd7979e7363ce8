//! Hardening: a damaged checkpoint is an error naming the file (never a silent load), a
//! run directory is written by one run at a time, --resume cannot shorten a run, a
//! gen-data folder works as --data, eval needs no optimiser state, and a fuzz test flips
//! bytes of a checkpoint: a clear error or a verified, finite load, never a panic.

mod common;

use std::path::Path;

use common::cli::{facemtl, temp_dir};

use facemtl::autodiff::ParamStore;
use facemtl::model::{MultiTaskNet, Preset};
use facemtl::train::checkpoint::{Checkpoint, STATE, WEIGHTS};
use rand::{Rng, SeedableRng};

/// A finished tiny run in `dir`.
fn tiny_run(dir: &Path, epochs: &str) {
    let (ok, out, err) = facemtl(&[
        "train",
        "--out",
        dir.to_str().unwrap(),
        "--subjects",
        "6",
        "--per-expression",
        "2",
        "--folds",
        "2",
        "--batch",
        "8",
        "--epochs",
        epochs,
        "--val-fraction",
        "0",
        "--quiet",
    ]);
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
    let faces = temp_dir("faces");
    let (ok, _, err) = facemtl(&[
        "gen-data",
        "--out",
        faces.to_str().unwrap(),
        "--subjects",
        "6",
        "--per-expression",
        "2",
    ]);
    assert!(ok, "{err}");
    // Excel's "CSV UTF-8" puts a byte-order mark first: still a manifest.
    let manifest = faces.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("\u{feff}{text}")).unwrap();
    let out = temp_dir("faces-run");
    let (ok, stdout, err) = facemtl(&[
        "train",
        "--data",
        faces.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--folds",
        "2",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--val-fraction",
        "0",
        "--quiet",
    ]);
    assert!(ok, "{stdout}{err}");
    assert!(stdout.contains("manifest.csv"), "{stdout}");
}
