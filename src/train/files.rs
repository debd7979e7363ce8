//! Names of files that mark what a directory holds, for the modules that write them and
//! those that recognise a directory by them (a checkpoint load pointed at a
//! cross-validation's folder says so).

/// A cross-validation's plan (`train --all-folds`), at the top of its directory.
pub const CV_PLAN: &str = "cv.json";

/// A comparison's plan (`compare`), at the top of its directory.
pub const COMPARE_PLAN: &str = "compare.json";

/// What one run (`train` without `--all-folds`) writes in its directory, besides its lock
/// and the temporary names of its checkpoint's atomic writes: the checkpoint's files, the
/// logs, the split, the summary, the plots and a trace.
pub const RUN_FILES: &[&str] = &[
    super::checkpoint::WEIGHTS,
    super::checkpoint::STATE,
    super::checkpoint::PREVIOUS_STATE,
    super::checkpoint::SIDECAR_JSON,
    "summary.json",
    "split.json",
    "epochs.csv",
    "metrics.csv",
    "plots",
    super::trace::TRACE_DIR,
];

/// Removes the run in `dir` whole (every name of [`RUN_FILES`] there, and a checkpoint
/// write's temporary file; other files stay), so that `--overwrite` never leaves the old
/// run's files beside the new one's. The caller holds the directory's lock.
pub fn remove_run(dir: &std::path::Path) -> std::io::Result<()> {
    let checkpoint_temps = [super::checkpoint::WEIGHTS, super::checkpoint::STATE]
        .map(|name| super::checkpoint::temp_path(&dir.join(name)));
    for path in RUN_FILES
        .iter()
        .map(|name| dir.join(name))
        .chain(checkpoint_temps)
    {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path)?,
            Ok(_) => std::fs::remove_file(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
