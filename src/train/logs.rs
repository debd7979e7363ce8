//! The run's CSV logs: `metrics.csv` (one row per step) and `epochs.csv` (one row per
//! epoch). A resumed run first drops rows past the checkpoint it resumes from, so the logs
//! never hold a step twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::TrainError;

pub const METRICS_HEADER: &str = "epoch,step,loss_fr,loss_fer,w_fr,w_fer,lr";
pub const EPOCHS_HEADER: &str = "epoch,loss_fr,loss_fer,w_fr,w_fer,train_fr_accuracy,train_fer_accuracy,fr_identification_accuracy,fer_test_accuracy,fr_verification_auc,seconds,images_per_second";

/// An append-only CSV file with a header.
pub struct CsvLog {
    path: PathBuf,
}

fn io(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output(format!("{}: {e}", path.display()))
}

impl CsvLog {
    /// Starts a new log with `header`; on resume, `keep_up_to = (column, bound)` keeps the
    /// old rows whose value in `column` is at most `bound`.
    pub fn open(
        path: PathBuf,
        header: &str,
        keep_up_to: Option<(usize, f64)>,
    ) -> Result<CsvLog, TrainError> {
        let mut text = format!("{header}\n");
        if let Some((column, bound)) = keep_up_to {
            if let Ok(old) = std::fs::read_to_string(&path) {
                for line in old.lines().skip(1) {
                    let value = line
                        .split(',')
                        .nth(column)
                        .and_then(|v| v.parse::<f64>().ok());
                    if value.is_some_and(|v| v <= bound) {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
            }
        }
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        Ok(CsvLog { path })
    }

    /// Appends rows (already formatted).
    pub fn append(&self, rows: &[String]) -> Result<(), TrainError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, e))?;
        for row in rows {
            writeln!(file, "{row}").map_err(|e| io(&self.path, e))?;
        }
        Ok(())
    }

    /// Every data row as numbers (for plots).
    pub fn read_rows(&self) -> Result<Vec<Vec<f64>>, TrainError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| io(&self.path, e))?;
        Ok(text
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .map(|v| v.parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect())
    }
}

/// A number for a CSV cell (empty when missing).
pub fn cell(value: Option<f32>) -> String {
    value.map(|v| format!("{v:.6}")).unwrap_or_default()
}
