//! Names of files that mark what a directory holds, for the modules that write them and
//! those that recognise a directory by them (a checkpoint load pointed at a
//! cross-validation's folder says so).

/// A cross-validation's plan (`train --all-folds`), at the top of its directory.
pub const CV_PLAN: &str = "cv.json";

/// A comparison's plan (`compare`), at the top of its directory.
pub const COMPARE_PLAN: &str = "compare.json";
