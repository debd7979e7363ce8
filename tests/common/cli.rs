//! Running the `facemtl` program from the program-level tests.

use std::path::PathBuf;
use std::process::Command;

/// The working directory the program runs in: a temporary one per test process, so that a
/// run without `--out` writes its `runs/run-N` there and never into the checkout.
pub fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("facemtl-test-{}-cwd", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the tests' working directory");
    dir
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

/// An empty temporary path for this test process, named `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("facemtl-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
