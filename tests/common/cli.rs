//! Running the `facemtl` program from the program-level tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The working directory the program runs in: a scratch folder per test binary, emptied
/// when the binary first runs the program, so that a run without `--out` writes its
/// `runs/run-N` there and never into the checkout.
pub fn work_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = super::scratch_dir("cwd");
        std::fs::create_dir_all(&dir).expect("create the tests' working directory");
        dir
    })
    .clone()
}

/// A file of the checkout, as an absolute path (the program runs in [`work_dir`]).
pub fn checkout_file(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs facemtl with `args` in [`work_dir`]: (exited 0, stdout, stderr).
pub fn facemtl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .args(args)
        .current_dir(work_dir())
        .output()
        .expect("run facemtl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch path for this test binary with nothing at it, named `name` (see
/// `scratch_dir`).
pub fn temp_dir(name: &str) -> PathBuf {
    super::scratch_dir(name)
}

/// A gen-data folder `name` of `subjects` x 7 expressions x `per` images (`extra`: more
/// gen-data flags).
pub fn gen_faces(name: &str, subjects: &str, per: &str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir(name);
    let mut args = vec![
        "gen-data",
        "--out",
        dir.to_str().unwrap(),
        "--subjects",
        subjects,
        "--per-expression",
        per,
    ];
    args.extend_from_slice(extra);
    let (ok, _, err) = facemtl(&args);
    assert!(ok, "gen-data failed: {err}");
    dir
}

/// `train` on the files `data` into `out`: 2 folds, batch 8, no validation split, quiet,
/// `epochs` epochs and `extra` flags. (exited 0, stdout, stderr).
pub fn train_on(data: &Path, out: &Path, epochs: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--folds",
        "2",
        "--epochs",
        epochs,
        "--batch",
        "8",
        "--val-fraction",
        "0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    facemtl(&args)
}

/// `predict` of `image` with the checkpoint in `run` succeeds and names an expression.
pub fn assert_predicts(run: &Path, image: &Path) {
    let (ok, out, err) = facemtl(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("expression:"), "{out}{err}");
}

/// The flags of a tiny synthetic run in `out` of `epochs` epochs, quiet: 6 subjects, 2
/// images per expression, 2 folds, batch 8 and no validation split, each unless `extra`
/// gives that flag; then `extra`.
pub fn tiny_run_args(out: &Path, epochs: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        epochs,
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    for (flag, value) in [
        ("--subjects", "6"),
        ("--per-expression", "2"),
        ("--folds", "2"),
        ("--batch", "8"),
        ("--val-fraction", "0"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}
