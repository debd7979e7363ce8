//! Printing that never stops a run. `println!` panics when standard output is a closed pipe
//! (`facemtl train ... | head -1`) and the default SIGPIPE action kills the process
//! without a checkpoint; a training run prints through [`say!`](crate::say) and
//! [`note!`](crate::note) instead, which drop what cannot be written and go on (the
//! run's results are its files), remembering that output was lost so the command can say
//! so on the stream that still works.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

/// Writes `args` and a newline to standard output; a failed write is remembered, not fatal.
pub fn say(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if out
        .write_fmt(args)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush())
        .is_err()
    {
        STDOUT_LOST.store(true, Ordering::Relaxed);
    }
}

/// Writes `args` and a newline to standard error; a failed write is dropped.
pub fn note(args: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|_| err.write_all(b"\n"));
}

/// Whether a write to standard output has failed (a closed pipe, a full disk).
pub fn stdout_lost() -> bool {
    STDOUT_LOST.load(Ordering::Relaxed)
}

/// Whether standard output is open at all. A program started with it closed (`>&-`) finds
/// it open on /dev/null: Rust's runtime puts /dev/null, read-write, on a closed standard
/// descriptor before `main`, so writes to it report success and go nowhere. That is told
/// apart from a user's `> /dev/null` (write-only) by its access mode.
pub fn stdout_is_open() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: F_GETFL only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
        if flags == -1 {
            return false;
        }
        if flags & libc::O_ACCMODE != libc::O_RDWR {
            return true;
        }
        let null = std::fs::metadata("/dev/null").map(|m| m.rdev()).ok();
        let out = std::fs::metadata("/proc/self/fd/1").map(|m| m.rdev()).ok();
        !(null.is_some() && null == out)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// `println!` that never panics or stops the program on a closed standard output.
#[macro_export]
macro_rules! say {
    () => { $crate::console::say(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::say(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics on a closed standard error.
#[macro_export]
macro_rules! note {
    () => { $crate::console::note(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::note(format_args!($($arg)*)) };
}
