//! Running the `facemtl` program from the program-level tests.

use std::path::PathBuf;
use std::process::Command;

/// Runs facemtl with `args`: (exited 0, stdout, stderr).
pub fn facemtl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_facemtl"))
        .args(args)
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
