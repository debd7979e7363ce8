//! The run's CSV logs, one typed row per line written and read with the `csv` crate:
//! `metrics.csv` (a [`StepRow`] per training step) and `epochs.csv` (an [`EpochRow`] per
//! epoch). The header comes from the row type's field names. A resumed run first drops
//! rows past the checkpoint it resumes from, so the logs never hold a step twice.

use std::fs::OpenOptions;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::TrainError;

/// One training step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub epoch: usize,
    pub step: u64,
    pub loss_fr: f32,
    pub loss_fer: f32,
    pub w_fr: f32,
    pub w_fer: f32,
    pub lr: f32,
}

/// One epoch: means over its steps, and the validation figures after it (empty cells where
/// a task has no labels or the run has no validation split).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    /// Steps the means are over: fewer than the epoch's batches when the run was resumed in
    /// the middle of it (the steps before the interruption are in metrics.csv).
    pub steps: usize,
    pub loss_fr: f32,
    pub loss_fer: f32,
    pub w_fr: f32,
    pub w_fer: f32,
    pub train_fr_accuracy: Option<f32>,
    pub train_fer_accuracy: Option<f32>,
    pub val_fr_identification_accuracy: Option<f32>,
    pub val_fer_accuracy: Option<f32>,
    pub val_fr_verification_auc: Option<f32>,
    pub seconds: f64,
    pub images_per_second: f64,
}

/// A row with a position in the run (its step or epoch), by which a resume trims the log.
pub trait LogRow: Serialize + DeserializeOwned {
    fn position(&self) -> u64;
}

impl LogRow for StepRow {
    fn position(&self) -> u64 {
        self.step
    }
}

impl LogRow for EpochRow {
    fn position(&self) -> u64 {
        self.epoch as u64
    }
}

/// An append-only CSV file of `R` rows.
pub struct CsvLog<R> {
    path: PathBuf,
    rows: PhantomData<R>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output(format!("{}: {e}", path.display()))
}

impl<R: LogRow> CsvLog<R> {
    /// Starts the log at `path`; on resume, `keep_up_to` keeps the old rows whose position
    /// is at most that (unreadable old rows are dropped).
    pub fn open(path: PathBuf, keep_up_to: Option<u64>) -> Result<CsvLog<R>, TrainError> {
        let kept: Vec<R> = match keep_up_to {
            Some(bound) if path.exists() => read::<R>(&path)?
                .into_iter()
                .filter(|r| r.position() <= bound)
                .collect(),
            _ => Vec::new(),
        };
        std::fs::File::create(&path).map_err(|e| io(&path, e))?;
        let log = CsvLog {
            path,
            rows: PhantomData,
        };
        log.append(&kept)?;
        Ok(log)
    }

    /// Appends rows; the first rows of an empty file bring the header.
    pub fn append(&self, rows: &[R]) -> Result<(), TrainError> {
        if rows.is_empty() {
            return Ok(());
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, e))?;
        let empty = file.metadata().map_err(|e| io(&self.path, e))?.len() == 0;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(empty)
            .from_writer(file);
        for row in rows {
            writer.serialize(row).map_err(|e| io(&self.path, e))?;
        }
        writer.flush().map_err(|e| io(&self.path, e))
    }

    /// Every row written so far.
    pub fn read_rows(&self) -> Result<Vec<R>, TrainError> {
        read(&self.path)
    }
}

/// The readable rows of the log at `path`.
fn read<R: LogRow>(path: &Path) -> Result<Vec<R>, TrainError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| io(path, e))?;
    Ok(reader.deserialize().filter_map(Result::ok).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: u64) -> StepRow {
        StepRow {
            epoch: 1,
            step,
            loss_fr: 1.5,
            loss_fer: 0.25,
            w_fr: 0.6,
            w_fer: 0.4,
            lr: 3e-3,
        }
    }

    #[test]
    fn rows_round_trip_under_their_header_and_resume_trims() {
        let path = std::env::temp_dir().join(format!("facemtl-log-{}.csv", std::process::id()));
        let log = CsvLog::<StepRow>::open(path.clone(), None).unwrap();
        log.append(&[step(1), step(2)]).unwrap();
        log.append(&[step(3)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "epoch,step,loss_fr,loss_fer,w_fr,w_fer,lr",
                "1,1,1.5,0.25,0.6,0.4,0.003",
                "1,2,1.5,0.25,0.6,0.4,0.003",
                "1,3,1.5,0.25,0.6,0.4,0.003",
            ]
        );
        let log = CsvLog::<StepRow>::open(path.clone(), Some(2)).unwrap();
        assert_eq!(log.read_rows().unwrap(), [step(1), step(2)]);
        log.append(&[step(7)]).unwrap();
        assert_eq!(log.read_rows().unwrap(), [step(1), step(2), step(7)]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn missing_values_are_empty_cells() {
        let path = std::env::temp_dir().join(format!("facemtl-epochs-{}.csv", std::process::id()));
        let row = EpochRow {
            epoch: 2,
            steps: 20,
            loss_fr: 1.0,
            loss_fer: 2.0,
            w_fr: 0.5,
            w_fer: 0.5,
            train_fr_accuracy: Some(0.75),
            train_fer_accuracy: None,
            val_fr_identification_accuracy: None,
            val_fer_accuracy: Some(0.5),
            val_fr_verification_auc: None,
            seconds: 3.0,
            images_per_second: 100.0,
        };
        let log = CsvLog::open(path.clone(), None).unwrap();
        log.append(&[row]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().nth(1),
            Some("2,20,1.0,2.0,0.5,0.5,0.75,,,0.5,,3.0,100.0")
        );
        assert_eq!(log.read_rows().unwrap(), [row]);
        std::fs::remove_file(&path).unwrap();
    }
}
