//! Checkpoints. `checkpoint.safetensors` holds the model: every parameter and buffer by its
//! dotted name, in PyTorch's layouts (conv weight [out, in, kh, kw], linear weight
//! [out, in]), so `safetensors.torch.load_file` reads it. The sidecar
//! `checkpoint.state.safetensors` holds the optimiser state tensors and, in its metadata,
//! the run's config, position (epoch, batch, step) and class names; `checkpoint.json` is a
//! readable copy of that. Files are written to a temporary name and renamed, and the
//! previous state file is kept until the new weights are in place, so a crash at any point
//! leaves a matching (weights, state) pair.
//!
//! Integrity: each file records in its metadata a digest (64-bit FNV-1a) of its tensors'
//! names, shapes and bytes, checked on every load, and every tensor must be finite; a
//! damaged or non-finite checkpoint is an error naming the file, never a silent load. A
//! save refuses non-finite weights, so the checkpoint on disk stays the last finite one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::config::{Tasks, TrainConfig};
use crate::autodiff::ParamStore;
use crate::choice::Choice;
use crate::data::Expression;
use crate::fnv::Fnv1a;
use crate::gpu::{Gpu, Tensor};
use crate::optim::Optimizer;

pub const WEIGHTS: &str = "checkpoint.safetensors";
pub const STATE: &str = "checkpoint.state.safetensors";
pub(crate) const PREVIOUS_STATE: &str = "checkpoint.state.previous.safetensors";
pub const SIDECAR_JSON: &str = "checkpoint.json";

/// The version of the run files this build writes and reads (`checkpoint.json`, the state
/// file's sidecar, the weights' metadata); a file of another version is refused with a
/// message saying which it is.
pub const FORMAT_VERSION: u32 = 2;

/// Where a run stands, and what it needs to go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub format_version: u32,
    pub config: TrainConfig,
    /// The tasks the run trains: the config's, less a task the data has no labels for. A
    /// head of a task not trained holds its initial weights and is never reported.
    pub trained_tasks: Tasks,
    /// FR class names (training subjects), in logit order.
    pub fr_classes: Vec<String>,
    /// FER class names, in logit order.
    pub fer_classes: Vec<String>,
    /// Epochs completed.
    pub epoch: usize,
    /// Batches completed of the epoch under way (0 at an epoch boundary).
    pub batch: usize,
    /// Training steps completed in all.
    pub step: u64,
    pub main_optimizer_steps: u64,
    pub unit_optimizer_steps: u64,
    /// Seconds of training so far (for images/s over resumed runs).
    pub train_seconds: f64,
    pub images_seen: u64,
    /// The verification threshold chosen on the run's validation split (or, without one,
    /// on training subjects' pairs) at the end of training; `eval` scores other pairs at it.
    pub verification_threshold: Option<f32>,
    /// Which pairs the verification threshold was chosen on (absent from run files written
    /// before it was recorded, which chose on the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_chosen_on: Option<ThresholdSource>,
    /// The digest of the data's files when the run last saved
    /// ([`crate::data::files_digest`]: names, sizes, modification times); `--resume` and
    /// `eval` warn when the files differ from it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_digest: Option<String>,
    /// The weighting method's own state (uncertainty's log-variances, DWA's loss history,
    /// ...), so a resumed run weighs its steps as an uninterrupted one.
    pub weighting_state: Vec<f32>,
}

impl Sidecar {
    /// The sidecar of a run that has not trained yet.
    pub fn new(
        config: TrainConfig,
        trained_tasks: Tasks,
        fr_classes: Vec<String>,
        fer_classes: Vec<String>,
    ) -> Sidecar {
        Sidecar {
            format_version: FORMAT_VERSION,
            config,
            trained_tasks,
            fr_classes,
            fer_classes,
            epoch: 0,
            batch: 0,
            step: 0,
            main_optimizer_steps: 0,
            unit_optimizer_steps: 0,
            train_seconds: 0.0,
            images_seen: 0,
            verification_threshold: None,
            threshold_chosen_on: None,
            data_digest: None,
            weighting_state: Vec::new(),
        }
    }

    /// A warning when the data's files are not as they were when the run saved (`digest`:
    /// theirs now); None when they are, or when either digest is unknown.
    pub fn data_changed(&self, digest: Option<&str>) -> Option<String> {
        let (then, now) = (self.data_digest.as_deref()?, digest?);
        (then != now).then(|| {
            format!(
                "facemtl: warning: the data's files ({}) have changed since this run saved its checkpoint (names, sizes or modification times differ): the figures and any further training are on other images than the run's",
                self.config.data.describe()
            )
        })
    }

    /// Where the stored verification threshold comes from, for people.
    pub fn threshold_origin(&self) -> &'static str {
        match self.threshold_chosen_on {
            Some(ThresholdSource::TrainingSubjects) => {
                "chosen on training subjects' pairs: the run had no validation split with two or more subjects, so no impostor pairs there"
            }
            _ => "chosen on its validation split",
        }
    }

    /// Why the checkpoint stores no verification threshold.
    pub fn no_threshold_reason(&self) -> &'static str {
        if self.trained_tasks == Tasks::Fer {
            "its run did not train face recognition"
        } else if self.epoch < self.config.epochs {
            "its run stopped before the end, where the threshold is chosen"
        } else {
            "its run found no pairs of different people to choose one on"
        }
    }

    /// Whether the run trained face recognition (its FR head and embedding mean something).
    pub fn trains_fr(&self) -> bool {
        self.trained_tasks != Tasks::Fer
    }

    /// Whether the run trained expression recognition.
    pub fn trains_fer(&self) -> bool {
        self.trained_tasks != Tasks::Fr
    }

    /// Checks every field read from a run file but the format version (`parse_sidecar`
    /// checks that first, before the fields are read): the config's ranges, the class
    /// lists, the position and the threshold.
    pub fn validate(&self) -> Result<(), String> {
        self.config.validate()?;
        for (task, classes) in [("FR", &self.fr_classes), ("FER", &self.fer_classes)] {
            if let Some((i, name)) = classes
                .iter()
                .enumerate()
                .find(|(i, name)| classes[..*i].contains(name))
            {
                return Err(format!("{task} class {name:?} is listed twice (at {i})"));
            }
        }
        if let Some(bad) = self
            .fer_classes
            .iter()
            .find(|name| Expression::parse(name).is_none())
        {
            return Err(format!(
                "FER class {bad:?} is not an expression facemtl knows"
            ));
        }
        if self.epoch > self.config.epochs {
            return Err(format!(
                "records {} epochs done of a run of {}",
                self.epoch, self.config.epochs
            ));
        }
        if let Some(t) = self
            .verification_threshold
            .filter(|t| !(-1.0..=1.0).contains(t))
        {
            return Err(format!(
                "verification threshold {t} is not a cosine similarity in [-1, 1]"
            ));
        }
        if !(self.train_seconds.is_finite() && self.train_seconds >= 0.0) {
            return Err(format!(
                "train_seconds {} is not a duration",
                self.train_seconds
            ));
        }
        if self.weighting_state.iter().any(|v| !v.is_finite()) {
            return Err("the weighting state holds a non-finite value".into());
        }
        Ok(())
    }
}

/// The pairs a verification threshold was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdSource {
    /// The validation split's subjects (held out of training).
    Validation,
    /// Training subjects' images: the run's validation split was absent or had fewer than
    /// two subjects.
    TrainingSubjects,
}

/// A checkpoint read from disk.
pub struct Checkpoint {
    pub sidecar: Sidecar,
    /// The weights file it was read from, for messages.
    weights_path: PathBuf,
    weights: HashMap<String, (Vec<usize>, Vec<f32>)>,
    state: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

fn error(path: &Path, message: impl std::fmt::Display) -> String {
    format!("{}: {message}", path.display())
}

/// Where [`write_atomically`] writes `path` before renaming it into place.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temp = temp_path(path);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| error(&temp, format!("cannot write: {e}")))?;
    std::fs::rename(&temp, path).map_err(|e| error(path, format!("cannot replace: {e}")))
}

/// The digest of named tensors: FNV-1a over each name, shape and data, in name order.
fn digest<'a>(tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [f32])>) -> String {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hash = Fnv1a::default();
    for (name, shape, data) in sorted {
        hash.eat(name.as_bytes());
        for &d in shape {
            hash.eat(&(d as u64).to_le_bytes());
        }
        hash.eat(bytemuck::cast_slice(data));
    }
    hash.hex()
}

/// A tensor as a file holds it: name, shape, values.
type NamedTensor = (String, Vec<usize>, Vec<f32>);

fn serialize(
    tensors: &[NamedTensor],
    mut metadata: HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    metadata.insert(
        "digest".to_string(),
        digest(
            tensors
                .iter()
                .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice())),
        ),
    );
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data))
                .map(|view| (name.clone(), view))
                .map_err(|e| format!("tensor {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| e.to_string())?;
    sorted_header(bytes)
}

/// The safetensors file `bytes` with its JSON header's keys in sorted order: the crate
/// writes the metadata from a hash map, whose order changes from run to run, and identical
/// runs should write identical files. The header's length and the data are unchanged.
fn sorted_header(mut bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let length = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = &bytes[8..8 + length];
    // serde_json's maps are ordered by key (no preserve_order feature here).
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    if sorted.len() > length {
        return Err("the sorted safetensors header grew".into());
    }
    sorted.resize(length, b' ');
    bytes[8..8 + length].copy_from_slice(&sorted);
    Ok(bytes)
}

type Loaded = (
    HashMap<String, (Vec<usize>, Vec<f32>)>,
    HashMap<String, String>,
);

fn deserialize(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| error(path, format!("cannot read: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| error(path, format!("not a valid safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| error(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(error(
                path,
                format!("tensor {name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(error(
                path,
                format!(
                    "tensor {name} holds a non-finite value ({bad}); the checkpoint is damaged"
                ),
            ));
        }
        out.insert(name.to_string(), (view.shape().to_vec(), data));
    }
    let recorded = metadata.get("digest").ok_or_else(|| {
        error(
            path,
            "records no digest of its tensors: facemtl did not write it, or it is damaged",
        )
    })?;
    let found = digest(
        out.iter()
            .map(|(n, (s, d))| (n.as_str(), s.as_slice(), d.as_slice())),
    );
    if *recorded != found {
        return Err(error(
            path,
            format!("damaged: its tensors do not match the digest recorded when it was saved ({recorded}, now {found}); restore the file from a copy or train again"),
        ));
    }
    Ok((out, metadata))
}

/// Every parameter and buffer of `store`: (name, shape, values).
fn model_tensors(gpu: &Gpu, store: &ParamStore) -> Result<Vec<NamedTensor>, String> {
    store
        .ids()
        .map(|id| {
            Ok((
                store.name(id).to_string(),
                store.get(id).shape().to_vec(),
                store.get(id).to_vec(gpu).map_err(|e| e.to_string())?,
            ))
        })
        .collect()
}

/// Writes the model alone (the checkpoint's weights file, no sidecar) to `path`, recording
/// `step` in its metadata (a run's trace).
pub fn save_weights(gpu: &Gpu, path: &Path, store: &ParamStore, step: u64) -> Result<(), String> {
    let bytes = serialize(
        &model_tensors(gpu, store)?,
        HashMap::from([("step".to_string(), step.to_string())]),
    )?;
    write_atomically(path, &bytes)
}

/// Saves the model, both optimisers and the sidecar in `dir`.
pub fn save(
    gpu: &Gpu,
    dir: &Path,
    store: &ParamStore,
    main: &Optimizer,
    unit: &Optimizer,
    sidecar: &Sidecar,
) -> Result<(), String> {
    let download = |t: &Tensor| t.to_vec(gpu).map_err(|e| e.to_string());
    let weights = model_tensors(gpu, store)?;
    let mut state = Vec::new();
    for (prefix, optimizer) in [("main", main), ("unit", unit)] {
        for (id, slots) in optimizer.params().iter().zip(optimizer.state()) {
            for (k, slot) in slots.iter().enumerate() {
                state.push((
                    format!("{prefix}.{}.{k}", store.name(*id)),
                    slot.shape().to_vec(),
                    download(slot)?,
                ));
            }
        }
    }
    if let Some((name, _, _)) = weights
        .iter()
        .find(|(_, _, data)| data.iter().any(|v| !v.is_finite()))
    {
        let kept = if dir.join(WEIGHTS).exists() {
            format!("so {} keeps the last finite checkpoint", dir.display())
        } else {
            format!(
                "and this was the run's first checkpoint, so {} holds none",
                dir.display()
            )
        };
        return Err(format!(
            "the weights are no longer finite at step {} (first: {name}); not saved, {kept}. Try a smaller --lr, or turn clipping on (--clip-norm 5) if it is off",
            sidecar.step
        ));
    }
    let json = serde_json::to_string_pretty(sidecar).map_err(|e| e.to_string())?;
    let step = sidecar.step.to_string();
    let state_bytes = serialize(
        &state,
        HashMap::from([
            ("step".to_string(), step.clone()),
            ("sidecar".to_string(), json.clone()),
        ]),
    )?;
    let weight_bytes = serialize(
        &weights,
        HashMap::from([
            ("step".to_string(), step),
            (
                "preset".to_string(),
                sidecar.config.preset.name().to_string(),
            ),
        ]),
    )?;
    std::fs::create_dir_all(dir).map_err(|e| error(dir, format!("cannot create: {e}")))?;
    let (state_path, previous) = (dir.join(STATE), dir.join(PREVIOUS_STATE));
    if state_path.exists() {
        std::fs::rename(&state_path, &previous).map_err(|e| error(&state_path, e))?;
    }
    write_atomically(&state_path, &state_bytes)?;
    write_atomically(&dir.join(WEIGHTS), &weight_bytes)?;
    let _ = std::fs::remove_file(&previous);
    write_atomically(&dir.join(SIDECAR_JSON), json.as_bytes())
}

/// The folder of a checkpoint given as its folder or its `checkpoint.safetensors`.
pub fn checkpoint_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// A sidecar read from `path` (`checkpoint.json` or the state file), every field checked.
fn parse_sidecar(json: &str, path: &Path) -> Result<Sidecar, String> {
    // The version first, so that a file of another version says so rather than which
    // field it lacks.
    let version = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("format_version").and_then(serde_json::Value::as_u64));
    if let Some(v) = version.filter(|&v| v != u64::from(FORMAT_VERSION)) {
        return Err(error(
            path,
            format!("is run-file format version {v}, and this facemtl reads version {FORMAT_VERSION}; use the facemtl that wrote it, or train the run again"),
        ));
    }
    let sidecar: Sidecar =
        serde_json::from_str(json).map_err(|e| error(path, format!("unreadable sidecar: {e}")))?;
    sidecar.validate().map_err(|e| error(path, e))?;
    Ok(sidecar)
}

/// The readable copy of the sidecar (`checkpoint.json`) says what the state file's does:
/// every command reads the run's settings from the state file when it is there and from
/// `checkpoint.json` when it is not, so an edit to one copy alone would change what some
/// commands see. A disagreement is refused, naming both files and the fields. A copy of
/// another step (a save interrupted before its last rename) or no copy at all is no
/// disagreement: the state file is the newer.
fn check_readable_copy(
    json_path: &Path,
    state_json: &str,
    state_path: &Path,
) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(json_path) else {
        return Ok(());
    };
    let copy: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        error(
            json_path,
            format!("is not valid JSON ({e}); it is the readable copy of {}, which facemtl reads: restore it from the same run or delete it", state_path.display()),
        )
    })?;
    let state: serde_json::Value =
        serde_json::from_str(state_json).map_err(|e| error(state_path, e))?;
    if copy.get("step") != state.get("step") {
        return Ok(());
    }
    let mut differ = Vec::new();
    changed_fields(&copy, &state, "", &mut differ);
    if differ.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} and {} disagree on {}: the run's settings are read from {1}, so an edit to {0} would be ignored by some commands and used by others; undo the edit (or copy both files from one run)",
        json_path.display(),
        state_path.display(),
        differ.join(", ")
    ))
}

/// The dotted names of the fields where `a` and `b` differ.
fn changed_fields(
    a: &serde_json::Value,
    b: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let name = format!("{prefix}{key}");
                match (x.get(key), y.get(key)) {
                    (Some(u), Some(v)) => changed_fields(u, v, &format!("{name}."), out),
                    _ => out.push(name),
                }
            }
        }
        _ if a != b => out.push(prefix.trim_end_matches('.').to_string()),
        _ => {}
    }
}

/// Why `dir` (given as `path`) holds no checkpoint: a cross-validation or a comparison
/// (pointing to one of its runs), or a folder no run wrote.
fn no_checkpoint_in(path: &Path, dir: &Path, weights_path: &Path) -> String {
    let first_run = |root: &Path| -> Option<PathBuf> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(root)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            })
            .flat_map(|seed| std::fs::read_dir(seed).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.join(WEIGHTS).is_file())
            .collect();
        runs.sort();
        runs.into_iter().next()
    };
    if dir.join(super::files::CV_PLAN).is_file() {
        let example = first_run(dir).map_or(String::new(), |p| format!(", e.g. {}", p.display()));
        return format!(
            "{} is a cross-validation (--all-folds), not one run; give one of its runs, {}/seed-S/fold-F{example}",
            dir.display(),
            dir.display()
        );
    }
    if dir.join(super::files::COMPARE_PLAN).is_file() {
        return format!(
            "{} is a comparison of methods, not one run; give one of its runs, {}/METHOD/seed-S/fold-F",
            dir.display(),
            dir.display()
        );
    }
    format!(
        "{}: no checkpoint here (looked for {}; train with --out DIR first)",
        path.display(),
        weights_path.display()
    )
}

impl Checkpoint {
    /// Reads the checkpoint in `path` (a folder or its `checkpoint.safetensors`) with its
    /// optimiser state, for resuming.
    pub fn load(path: &Path) -> Result<Checkpoint, String> {
        Checkpoint::read(path, true)
    }

    /// Reads the model and the sidecar only (evaluation and prediction need no optimiser
    /// state; the sidecar then comes from `checkpoint.json` when no state file matches).
    pub fn load_model(path: &Path) -> Result<Checkpoint, String> {
        Checkpoint::read(path, false)
    }

    fn read(path: &Path, with_state: bool) -> Result<Checkpoint, String> {
        if !path.exists() {
            return Err(format!(
                "{}: no such file or directory (give a run directory or its {WEIGHTS})",
                path.display()
            ));
        }
        let dir = checkpoint_dir(path);
        let weights_path = dir.join(WEIGHTS);
        if !weights_path.exists() {
            return Err(no_checkpoint_in(path, &dir, &weights_path));
        }
        let (weights, weight_meta) = deserialize(&weights_path)?;
        let step = weight_meta
            .get("step")
            .cloned()
            .ok_or_else(|| error(&weights_path, "has no facemtl step metadata"))?;
        // The state file matching these weights: the current one, or the previous one if a
        // save was interrupted between its two renames.
        let mut tried = Vec::new();
        for candidate in [dir.join(STATE), dir.join(PREVIOUS_STATE)] {
            if !candidate.exists() {
                continue;
            }
            let (state, meta) = deserialize(&candidate)?;
            if meta.get("step") == Some(&step) {
                let json = meta
                    .get("sidecar")
                    .ok_or_else(|| error(&candidate, "has no sidecar metadata"))?;
                let sidecar = parse_sidecar(json, &candidate)?;
                check_readable_copy(&dir.join(SIDECAR_JSON), json, &candidate)?;
                let checkpoint = Checkpoint {
                    sidecar,
                    weights_path: weights_path.clone(),
                    weights,
                    state,
                };
                checkpoint.check_weights_match(&weight_meta, &weights_path, &candidate)?;
                return Ok(checkpoint);
            }
            let other = meta.get("step").map_or("no", String::as_str);
            tried.push(format!("{} holds step {other}", candidate.display()));
        }
        if !with_state {
            let json_path = dir.join(SIDECAR_JSON);
            let text = std::fs::read_to_string(&json_path)
                .map_err(|e| error(&json_path, format!("cannot read the run's sidecar: {e}")))?;
            let sidecar = parse_sidecar(&text, &json_path)?;
            if sidecar.step.to_string() != step {
                return Err(format!(
                    "{} is from step {} and {} from step {step}: the two belong to different saves (of this run or another); copy both from the same run",
                    json_path.display(),
                    sidecar.step,
                    weights_path.display()
                ));
            }
            let checkpoint = Checkpoint {
                sidecar,
                weights_path: weights_path.clone(),
                weights,
                state: HashMap::new(),
            };
            checkpoint.check_weights_match(&weight_meta, &weights_path, &json_path)?;
            return Ok(checkpoint);
        }
        let looked = if tried.is_empty() {
            format!("{} is missing", dir.join(STATE).display())
        } else {
            format!(
                "{}: it belongs to another save of this run or to another run",
                tried.join(", ")
            )
        };
        Err(error(
            &weights_path,
            format!("no optimiser state for step {step} beside it, needed to resume ({looked})"),
        ))
    }

    /// The weights agree with the sidecar read from `sidecar_path`: the same preset, and
    /// heads with as many outputs as it lists classes.
    fn check_weights_match(
        &self,
        weight_meta: &HashMap<String, String>,
        weights_path: &Path,
        sidecar_path: &Path,
    ) -> Result<(), String> {
        let s = &self.sidecar;
        let disagree = |what: String| {
            format!(
                "{} and {} disagree: {what}; they come from different runs (copy both from one run)",
                weights_path.display(),
                sidecar_path.display()
            )
        };
        let preset = s.config.preset.name();
        match weight_meta.get("preset") {
            Some(p) if p == preset => {}
            other => {
                return Err(disagree(format!(
                    "the weights are of preset {}, the sidecar says {preset}",
                    other.map_or("(none)", String::as_str)
                )))
            }
        }
        for (tensor, task, classes) in [
            ("fr.logits.bias", "FR", &s.fr_classes),
            ("fer.logits.bias", "FER", &s.fer_classes),
        ] {
            let outputs = self.weights.get(tensor).map_or(0, |(shape, _)| shape[0]);
            if outputs != classes.len().max(1) {
                return Err(disagree(format!(
                    "the weights' {task} head has {outputs} outputs, the sidecar lists {} {task} classes",
                    classes.len()
                )));
            }
        }
        Ok(())
    }

    /// Copies the saved parameters and buffers into `store`, checking every name and shape.
    pub fn restore_model(&self, gpu: &Gpu, store: &ParamStore) -> Result<(), String> {
        for id in store.ids() {
            let name = store.name(id);
            let (shape, data) = self.weights.get(name).ok_or_else(|| {
                format!("{}: no tensor {name}: it was saved by another preset or version (its sidecar says {})", self.weights_path.display(), self.sidecar.config.preset.name())
            })?;
            let expected = store.get(id).shape();
            if shape != expected {
                let c = &self.sidecar.config;
                return Err(format!(
                    "{}: tensor {name} is {shape:?}, but the network its run's settings describe (preset {}, --color {}: {} input channel(s)) expects {expected:?}; the weights and the settings in {} come from different runs, or the settings were edited",
                    self.weights_path.display(),
                    c.preset.name(),
                    c.color.name(),
                    c.color.channels(),
                    self.weights_path.with_file_name(SIDECAR_JSON).display()
                ));
            }
            store.set(gpu, id, data).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Copies the saved optimiser state into `main` and `unit`.
    pub fn restore_optimizers(
        &self,
        gpu: &Gpu,
        store: &ParamStore,
        main: &mut Optimizer,
        unit: &mut Optimizer,
    ) -> Result<(), String> {
        for (prefix, optimizer, steps) in [
            ("main", main, self.sidecar.main_optimizer_steps),
            ("unit", unit, self.sidecar.unit_optimizer_steps),
        ] {
            for (id, slots) in optimizer.params().iter().zip(optimizer.state()) {
                for (k, slot) in slots.iter().enumerate() {
                    let name = format!("{prefix}.{}.{k}", store.name(*id));
                    let (_, data) = self
                        .state
                        .get(&name)
                        .ok_or_else(|| format!("the checkpoint's optimiser state lacks {name}"))?;
                    slot.write(gpu, data)
                        .map_err(|e| format!("optimiser state {name}: {e}"))?;
                }
            }
            optimizer.set_steps(steps);
        }
        Ok(())
    }
}
