//! A run directory is written by one run at a time: `train` holds `facemtl.lock` (with its
//! process id) there while it runs and removes it when it ends. A second run on the same
//! directory gets a clear error; a lock left by a process that no longer exists (killed,
//! or a second Ctrl-C) is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::TrainError;

pub const LOCK_FILE: &str = "facemtl.lock";

/// The lock on a run directory, released when dropped.
pub struct RunLock {
    path: PathBuf,
}

/// Whether the process `pid` exists (on systems without a way to ask: assume it does).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let result = unsafe { libc::kill(pid as libc::pid_t, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

impl RunLock {
    /// Locks `dir` (created if missing) for this process.
    pub fn acquire(dir: &Path) -> Result<RunLock, TrainError> {
        let io = |e: std::io::Error, path: &Path| {
            TrainError::Output(format!(
                "{}: cannot lock the run directory: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
        let path = dir.join(LOCK_FILE);
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).map_err(|e| io(e, &path))?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if alive(pid) && pid != std::process::id() => {
                            return Err(TrainError::Config(format!(
                                "{} is being written by another facemtl run (process {pid}); wait for it to end or pick another --out (if no such run exists, delete {})",
                                dir.display(),
                                path.display()
                            )))
                        }
                        // Stale (its process is gone) or unreadable: take it over.
                        _ => std::fs::remove_file(&path).map_err(|e| io(e, &path))?,
                    }
                }
                Err(e) => return Err(io(e, &path)),
            }
        }
        Err(TrainError::Config(format!(
            "{}: could not take the lock; delete it if no facemtl run is using {}",
            path.display(),
            dir.display()
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_held_lock_refuses_a_second_run_and_a_stale_one_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("facemtl-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A live holder: this test's parent process stands in for another run.
        std::fs::create_dir_all(&dir).unwrap();
        let parent = std::os::unix::process::parent_id();
        std::fs::write(dir.join(LOCK_FILE), parent.to_string()).unwrap();
        let e = RunLock::acquire(&dir).err().unwrap().to_string();
        assert!(
            e.contains("another facemtl run") && e.contains(&parent.to_string()),
            "{e}"
        );
        // A stale holder (no such process) is replaced, and the lock goes with the guard.
        std::fs::write(dir.join(LOCK_FILE), "4000000000").unwrap();
        let lock = RunLock::acquire(&dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap(),
            std::process::id().to_string()
        );
        drop(lock);
        assert!(!dir.join(LOCK_FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
