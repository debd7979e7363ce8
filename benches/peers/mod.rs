//! Running a peer script of `benches/peers/` (PyTorch, numpy) from a bench: each prints
//! result lines `peer <fields...>`; the fields of those lines come back, or why none did.

use std::process::Command;

/// The script's path: in `FACEMTL_PEERS_DIR` when set (a bench binary run away from its
/// checkout, e.g. by `benches/gpu_check.sh`), else in this checkout's `benches/peers/`.
pub fn run(script: &str, args: &[String]) -> Result<Vec<Vec<String>>, String> {
    let dir = std::env::var("FACEMTL_PEERS_DIR")
        .unwrap_or_else(|_| format!("{}/benches/peers", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{dir}/{script}");
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let rows: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("peer "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    if rows.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{script}: no result ({})",
            err.lines().last().unwrap_or("no output")
        ));
    }
    Ok(rows)
}
