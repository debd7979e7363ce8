//! Starting a run from trained weights (`train --init-from PATH`): a facemtl run directory,
//! a checkpoint, or any safetensors file of f32 tensors under facemtl's names (e.g. FaceNet's
//! weights converted by `benches/peers/facenet_to_safetensors.py`). Every tensor whose name
//! and shape match the new network is copied in; every other keeps its fresh
//! initialisation (a head with another number of classes, say), and so does the branch of a
//! task a facemtl source run did not train. What was loaded, what differs in shape, what the
//! source did not train, what the file lacks and what it holds that the network does not
//! use are printed as one table; a source that gives the network's shared layers almost nothing
//! is refused, naming the likely cause.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::checkpoint::WEIGHTS;
use super::config::Tasks;
use super::error::TrainError;
use crate::autodiff::ParamStore;
use crate::gpu::Gpu;

/// Where a run's first weights came from, as its config records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitSource {
    /// The safetensors file read (absolute).
    pub path: String,
    /// 64-bit FNV-1a of the file's bytes, so a later look can tell whether it is the same.
    pub digest: String,
}

/// The share of the shared layers' (`trunk.`) values a source must provide: below it the
/// source is another network, and starting from it would be starting from random weights.
pub const MIN_TRUNK_SHARE: f64 = 0.5;

/// The safetensors file behind `path`: the file itself, or a run directory's weights.
pub fn source_file(path: &Path) -> Result<PathBuf, String> {
    if path.is_dir() {
        let weights = path.join(WEIGHTS);
        if weights.is_file() {
            return Ok(weights);
        }
        return Err(format!(
            "--init-from {}: a directory without {WEIGHTS}; give a run directory (for --all-folds, one of its seed-S/fold-F runs) or a .safetensors file",
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!(
            "--init-from {}: no such file or directory",
            path.display()
        ));
    }
    Ok(path.to_path_buf())
}

/// A source's tensors by name (shape, values), and its record.
pub struct Source {
    pub record: InitSource,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// The name prefix of the branch the source run did not train (a facemtl run of one
    /// task: the other task's branch): left out, however its names and shapes match.
    untrained: Option<&'static str>,
}

/// The branch a facemtl run beside `file` did not train, from its `checkpoint.json`
/// (`trained_tasks`): a run of one task holds the other's branch at its initial values
/// (or, where an optimiser kept it, walked towards zero by weight decay: Adam's coupled
/// decay moves every weight by the learning rate per step), no better a start than this
/// run's own initialisation.
fn untrained_branch(file: &Path) -> Option<&'static str> {
    let sidecar = file.with_file_name(super::checkpoint::SIDECAR_JSON);
    std::fs::read_to_string(sidecar)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| serde_json::from_value::<Tasks>(v.get("trained_tasks")?.clone()).ok())
        .and_then(Tasks::untrained_branch)
}

impl Source {
    /// Reads the safetensors file behind `path`: every tensor must be f32 and finite.
    pub fn read(path: &Path) -> Result<Source, String> {
        let file = source_file(path)?;
        let fail = |what: String| format!("--init-from {}: {what}", file.display());
        let bytes = std::fs::read(&file).map_err(|e| fail(format!("cannot read: {e}")))?;
        let tensors = SafeTensors::deserialize(&bytes)
            .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
        let mut out = HashMap::new();
        for (name, view) in tensors.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(fail(format!(
                    "tensor {name} is {:?}; facemtl reads f32 tensors (convert it with torch: tensor.float())",
                    view.dtype()
                )));
            }
            let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
            if data.iter().any(|v| !v.is_finite()) {
                return Err(fail(format!("tensor {name} holds a non-finite value")));
            }
            out.insert(name.to_string(), (view.shape().to_vec(), data));
        }
        let untrained = untrained_branch(&file);
        let absolute = std::fs::canonicalize(&file).unwrap_or(file);
        Ok(Source {
            record: InitSource {
                path: absolute.display().to_string(),
                digest: crate::fnv::hex_of(&bytes),
            },
            tensors: out,
            untrained,
        })
    }
}

/// What loading a source into a network did, tensor by tensor.
#[derive(Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Copied (name, values).
    pub loaded: Vec<(String, usize)>,
    /// In both, of another shape: (name, the file's shape, the network's).
    pub shape_differs: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// The network's, not in the file.
    pub missing: Vec<String>,
    /// The file's, not in the network.
    pub unused: Vec<String>,
    /// In both, but of a branch the source run did not train: left at their initialisation.
    pub untrained_in_source: Vec<String>,
}

impl LoadReport {
    /// The share of the network's `trunk.` values that were loaded.
    fn trunk_share(&self, store: &ParamStore) -> f64 {
        let trunk: usize = store
            .ids()
            .filter(|&id| store.name(id).starts_with("trunk."))
            .map(|id| store.get(id).len())
            .sum();
        let loaded: usize = self
            .loaded
            .iter()
            .filter(|(name, _)| name.starts_with("trunk."))
            .map(|(_, n)| n)
            .sum();
        loaded as f64 / trunk.max(1) as f64
    }

    /// The report as a table: one row per kind, its count and the first names.
    pub fn table(&self) -> String {
        let names = |list: Vec<String>| -> String {
            let shown: Vec<&str> = list.iter().take(4).map(String::as_str).collect();
            let more = list.len().saturating_sub(shown.len());
            match more {
                0 => shown.join(", "),
                _ => format!("{}, and {more} more", shown.join(", ")),
            }
        };
        let values: usize = self.loaded.iter().map(|(_, n)| n).sum();
        let rows = [
            ("loaded", self.loaded.len(), format!("{values} values")),
            (
                "shape differs",
                self.shape_differs.len(),
                names(
                    self.shape_differs
                        .iter()
                        .map(|(n, file, net)| format!("{n} {file:?} -> {net:?}"))
                        .collect(),
                ),
            ),
            (
                "not trained there",
                self.untrained_in_source.len(),
                names(self.untrained_in_source.clone()),
            ),
            (
                "not in the file",
                self.missing.len(),
                names(self.missing.clone()),
            ),
            (
                "in the file, unused",
                self.unused.len(),
                names(self.unused.clone()),
            ),
        ];
        rows.iter()
            .map(|(kind, count, detail)| format!("  {kind:<20} {count:>5}  {detail}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Copies every tensor of `source` whose name and shape match into `store`; the others
/// keep their values. Refuses (changing nothing) a source that provides under
/// [`MIN_TRUNK_SHARE`] of the shared layers' values.
pub fn load_into(gpu: &Gpu, store: &ParamStore, source: &Source) -> Result<LoadReport, TrainError> {
    let mut report = LoadReport::default();
    let mut copies = Vec::new();
    for id in store.ids() {
        let name = store.name(id);
        let expected = store.get(id).shape();
        match source.tensors.get(name) {
            Some(_) if source.untrained.is_some_and(|p| name.starts_with(p)) => {
                report.untrained_in_source.push(name.to_string())
            }
            Some((shape, data)) if shape == expected => {
                report.loaded.push((name.to_string(), data.len()));
                copies.push((id, data));
            }
            Some((shape, _)) => {
                report
                    .shape_differs
                    .push((name.to_string(), shape.clone(), expected.to_vec()))
            }
            None => report.missing.push(name.to_string()),
        }
    }
    let mut unused: Vec<String> = source
        .tensors
        .keys()
        .filter(|name| store.find(name).is_none())
        .cloned()
        .collect();
    unused.sort();
    report.unused = unused;
    let share = report.trunk_share(store);
    if share < MIN_TRUNK_SHARE {
        let cause = if report.loaded.is_empty() && report.shape_differs.is_empty() {
            "no tensor name is shared: it is not a facemtl network (convert other weights to facemtl's names first)".to_string()
        } else if report
            .shape_differs
            .iter()
            .any(|(name, _, _)| name.starts_with("trunk."))
        {
            "the shared layers' shapes differ: it was trained with another --preset or --color (input channels)".to_string()
        } else {
            "most shared layers are missing from it: it holds another --preset".to_string()
        };
        return Err(TrainError::Config(format!(
            "--init-from {}: it gives {:.0}% of this network's shared layers (at least {:.0}% is needed); {cause}\n{}",
            source.record.path,
            share * 100.0,
            MIN_TRUNK_SHARE * 100.0,
            report.table()
        )));
    }
    for (id, data) in copies {
        store.set(gpu, id, data)?;
    }
    Ok(report)
}
