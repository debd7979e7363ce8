//! Everything a training run is configured by; saved in the checkpoint's sidecar and in
//! summary.json so a run can be resumed and reported.

use serde::{Deserialize, Serialize};

use super::init::InitSource;
use crate::choice::{display_by_name, named, Choice, Named};
use crate::data::align::BoxCrop;
use crate::data::augment::AugmentLevel;
use crate::data::formats::Format;
use crate::data::image::{Color, Preprocess, DEFAULT_CROP_MARGIN};
use crate::data::protocol::Shares;
use crate::data::synthetic::SyntheticConfig;
use crate::data::{DataError, Dataset};
use crate::model::Preset;
use crate::optim::{AdamConfig, LrSchedule, OptimizerKind, RmsPropConfig, SgdConfig};
use crate::weighting::WeightingSpec;

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// The built-in synthetic faces (generated at the network's input size).
    Synthetic(SyntheticConfig),
    /// Files in one of the supported layouts.
    Files {
        path: String,
        format: Format,
        skip_bad: bool,
    },
}

impl DataSource {
    /// Loads the images as `how` says (the network's input size and colour, the margin
    /// around face boxes).
    pub fn load(&self, how: &Preprocess) -> Result<Dataset, DataError> {
        match self {
            DataSource::Synthetic(config) => {
                let mut dataset = crate::data::synthetic::generate(&SyntheticConfig {
                    size: how.size,
                    ..config.clone()
                });
                dataset.color = how.color;
                Ok(dataset)
            }
            DataSource::Files {
                path,
                format,
                skip_bad,
            } => {
                let mut dataset = format.load(std::path::Path::new(path), how.size, *skip_bad)?;
                dataset.color = how.color;
                dataset.crop_margin = how.crop_margin;
                dataset.standardization = how.standardization;
                dataset.box_crop = how.box_crop;
                dataset.cache_if_fits(4 << 30, *skip_bad)?;
                dataset.refuse_duplicates(*skip_bad)?;
                dataset.check_usable(path)?;
                Ok(dataset)
            }
        }
    }

    /// The digest of the files behind `dataset`, loaded from this source
    /// ([`crate::data::files_digest`]; None for the built-in faces).
    pub fn files_digest(&self, dataset: &Dataset) -> Option<String> {
        match self {
            DataSource::Synthetic(_) => None,
            DataSource::Files { path, .. } => {
                crate::data::files_digest(dataset, Some(std::path::Path::new(path)))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DataSource::Synthetic(c) => format!(
                "synthetic faces ({} subjects x 7 expressions x {})",
                c.subjects, c.images_per_expression
            ),
            DataSource::Files { path, format, .. } => format!("{path} ({})", format.name()),
        }
    }
}

/// Which tasks train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tasks {
    /// Face recognition and expression recognition.
    Both,
    /// Face recognition only.
    Fr,
    /// Expression recognition only.
    Fer,
}

impl Tasks {
    /// The name prefix of the branch a run of these tasks does not train (None for both).
    pub fn untrained_branch(self) -> Option<&'static str> {
        match self {
            Tasks::Both => None,
            Tasks::Fr => Some("fer."),
            Tasks::Fer => Some("fr."),
        }
    }
}

impl TrainConfig {
    /// How the run's images become network input.
    pub fn preprocess(&self) -> Preprocess {
        let architecture = self.preset.architecture();
        Preprocess {
            size: architecture.input,
            color: self.color,
            crop_margin: self.crop_margin,
            standardization: architecture.standardization,
            box_crop: self.box_crop,
        }
    }
}

impl Choice for Tasks {
    const VALUES: &'static [Named<Self>] = &[
        named(
            Tasks::Both,
            "both",
            "face recognition and expression recognition",
        ),
        named(Tasks::Fr, "fr", "face recognition only"),
        named(Tasks::Fer, "fer", "expression recognition only"),
    ];
}
display_by_name!(Tasks);

/// The update rule of the network's optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    /// The paper's: decay 0.9, momentum 0.9, eps 1.
    Rmsprop,
    /// Betas 0.9 and 0.999, eps 1e-8.
    Adam,
    /// Momentum 0.9.
    Sgd,
}

impl Choice for OptimizerName {
    const VALUES: &'static [Named<Self>] = &[
        named(
            OptimizerName::Rmsprop,
            "rmsprop",
            "the paper's: decay 0.9, momentum 0.9, eps 1",
        ),
        named(OptimizerName::Adam, "adam", "betas 0.9 and 0.999, eps 1e-8"),
        named(OptimizerName::Sgd, "sgd", "momentum 0.9"),
    ];
}
display_by_name!(OptimizerName);

/// The optimiser and learning rate a preset trains with unless told otherwise: the plain
/// presets Adam at 0.003, the paper's Inception-ResNets the paper's RMSProp at 0.03. On
/// every fold of the built-in faces, paper-small's validation-split FER accuracy was
/// 0.824 ± 0.048 with RMSProp at 0.03 against 0.352 ± 0.233 with Adam at 0.003, whose FER
/// branch died in 5 of 10 folds (README, "The paper's network").
pub fn default_optimizer(preset: Preset) -> (OptimizerName, f32) {
    match preset {
        Preset::Small | Preset::Medium | Preset::Large => (OptimizerName::Adam, 3e-3),
        Preset::Paper | Preset::PaperSmall | Preset::Facenet => (OptimizerName::Rmsprop, 3e-2),
    }
}

/// How the learning rate moves over epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduleSpec {
    Constant,
    /// Divide by 10 at each listed epoch (the paper's piecewise-constant steps).
    Piecewise(Vec<usize>),
    /// Cosine decay to lr / 100 over the run.
    Cosine,
}

impl std::fmt::Display for ScheduleSpec {
    /// The text [`ScheduleSpec::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleSpec::Constant => write!(f, "constant"),
            ScheduleSpec::Cosine => write!(f, "cosine"),
            ScheduleSpec::Piecewise(at) => {
                let epochs: Vec<String> = at.iter().map(usize::to_string).collect();
                write!(f, "piecewise:{}", epochs.join(","))
            }
        }
    }
}

impl ScheduleSpec {
    /// Parses `constant`, `cosine` or `piecewise:E1,E2,...`.
    pub fn parse(text: &str) -> Result<ScheduleSpec, String> {
        match text {
            "constant" => Ok(ScheduleSpec::Constant),
            "cosine" => Ok(ScheduleSpec::Cosine),
            _ => {
                let list = text.strip_prefix("piecewise:").ok_or_else(|| {
                    format!("unknown schedule {text:?}: use constant, cosine or piecewise:E1,E2 (epochs where lr drops 10x)")
                })?;
                let epochs = list
                    .split(',')
                    .map(|e| {
                        e.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("schedule epoch {e:?} is not a whole number"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if epochs.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("piecewise epochs must increase: {list}"));
                }
                Ok(ScheduleSpec::Piecewise(epochs))
            }
        }
    }

    /// The schedule in optimiser steps.
    pub fn schedule(&self, lr: f32, steps_per_epoch: usize, epochs: usize) -> LrSchedule {
        match self {
            ScheduleSpec::Constant => LrSchedule::Constant(lr),
            ScheduleSpec::Cosine => LrSchedule::Cosine {
                base: lr,
                min: lr / 100.0,
                total_steps: (steps_per_epoch * epochs) as u64,
            },
            ScheduleSpec::Piecewise(at) => LrSchedule::Piecewise {
                boundaries: at.iter().map(|&e| (e * steps_per_epoch) as u64).collect(),
                values: (0..=at.len()).map(|i| lr / 10f32.powi(i as i32)).collect(),
            },
        }
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DataSource,
    pub preset: Preset,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub schedule: ScheduleSpec,
    pub optimizer: OptimizerName,
    pub weight_decay: f32,
    /// Global-norm gradient clipping (the paper: 5).
    pub clip_norm: Option<f32>,
    pub seed: u64,
    pub folds: usize,
    pub fold: usize,
    pub weighting: WeightingSpec,
    pub tasks: Tasks,
    /// Let L_total's gradient flow through the task weights into the trunk (the authors'
    /// code); off by default, so the trunk is trained by the task losses alone.
    pub weight_grad_to_trunk: bool,
    /// Learning rate of the weight unit (plain SGD).
    pub unit_lr: f32,
    /// Softmax over L2-normalised unit logits (bounded weights).
    pub normalize_unit_logits: bool,
    /// Keep probability of the dropout before the branch FCs.
    pub keep: f32,
    /// Training-time augmentation.
    pub augment: AugmentLevel,
    /// Share of each training subject's images held out for FR identification.
    pub identification_fraction: f32,
    /// Share of the training subjects held out as validation subjects, and of the other
    /// training subjects' images held out for validation identification (0: none).
    pub val_fraction: f32,
    /// Recompute the batch-norm running statistics over the clean (un-augmented) training
    /// images before each evaluation and checkpoint (before the last epoch's over a sample
    /// of them, `trainer::recalibration_images`).
    pub bn_recalibration: bool,
    /// Add the centre loss (weight 0.1, centre update rate 0.5) to the FR task.
    pub center_loss: bool,
    /// The network's input colour.
    pub color: Color,
    /// Added on each side of a manifest's face box, as a share of its larger side.
    pub crop_margin: f32,
    /// How a manifest's face boxes are cut out (`--crop`).
    #[serde(default, skip_serializing_if = "is_square")]
    pub box_crop: BoxCrop,
    /// The trained weights the run started from (`--init-from`); None: random ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitSource>,
    /// Keep the shared layers (`trunk.`) as they are: no update, no gradient, and their
    /// batch norms normalise with their running statistics (`--freeze trunk`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub freeze_trunk: bool,
    /// The shared layers' learning rate as a share of the network's (`--trunk-lr-scale`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub trunk_lr_scale: f32,
}

fn is_square(crop: &BoxCrop) -> bool {
    *crop == BoxCrop::Square
}

fn one() -> f32 {
    1.0
}

fn is_one(v: &f32) -> bool {
    *v == 1.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataSource::Synthetic(SyntheticConfig::default()),
            preset: Preset::Small,
            epochs: 24,
            batch: 32,
            lr: 3e-3,
            schedule: ScheduleSpec::Cosine,
            optimizer: OptimizerName::Adam,
            weight_decay: 1e-4,
            clip_norm: Some(5.0),
            seed: 1,
            folds: 10,
            fold: 0,
            weighting: WeightingSpec::Dynamic,
            tasks: Tasks::Both,
            weight_grad_to_trunk: false,
            unit_lr: 0.1,
            normalize_unit_logits: true,
            keep: 0.8,
            augment: AugmentLevel::Flips,
            identification_fraction: 0.2,
            val_fraction: 0.1,
            bn_recalibration: true,
            center_loss: false,
            color: Color::Gray,
            crop_margin: DEFAULT_CROP_MARGIN,
            box_crop: BoxCrop::Square,
            init_from: None,
            freeze_trunk: false,
            trunk_lr_scale: 1.0,
        }
    }
}

impl TrainConfig {
    /// The optimiser of the network (its lr is set by the schedule each step).
    pub fn optimizer_kind(&self) -> OptimizerKind {
        let (lr, weight_decay) = (self.lr, self.weight_decay);
        match self.optimizer {
            OptimizerName::Rmsprop => OptimizerKind::RmsProp(RmsPropConfig {
                lr,
                decay: 0.9,
                momentum: 0.9,
                eps: 1.0,
                weight_decay,
            }),
            OptimizerName::Adam => OptimizerKind::Adam(AdamConfig {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
            }),
            OptimizerName::Sgd => OptimizerKind::Sgd(SgdConfig {
                lr,
                momentum: 0.9,
                weight_decay,
            }),
        }
    }

    /// The shares of the training side held out (test identification, validation).
    pub fn shares(&self) -> Shares {
        Shares {
            identification: self.identification_fraction,
            validation: self.val_fraction,
        }
    }

    /// Checks values that no type rules out.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch < 2 {
            return Err("--batch must be at least 2 (batch norm needs two samples)".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("--lr must be a positive number, got {}", self.lr));
        }
        if !(self.unit_lr > 0.0 && self.unit_lr.is_finite()) {
            return Err(format!(
                "--unit-lr must be a positive number, got {}",
                self.unit_lr
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!(
                "--weight-decay must be a number 0 or more, got {}",
                self.weight_decay
            ));
        }
        if let Some(c) = self.clip_norm.filter(|c| !(*c > 0.0 && c.is_finite())) {
            return Err(format!("--clip-norm must be a number 0 or more, got {c}"));
        }
        if !(self.keep > 0.0 && self.keep <= 1.0) {
            return Err(format!("--keep must be in (0, 1], got {}", self.keep));
        }
        if !(0.0..1.0).contains(&self.identification_fraction) {
            return Err(format!(
                "--identification-fraction must be in [0, 1), got {}",
                self.identification_fraction
            ));
        }
        if !(0.0..=2.0).contains(&self.crop_margin) {
            return Err(format!(
                "--crop-margin must be in [0, 2], got {}",
                self.crop_margin
            ));
        }
        if !(0.0..0.5).contains(&self.val_fraction) {
            return Err(format!(
                "--val-fraction must be in [0, 0.5), got {}",
                self.val_fraction
            ));
        }
        if !(self.trunk_lr_scale > 0.0 && self.trunk_lr_scale <= 1.0) {
            return Err(format!(
                "--trunk-lr-scale must be in (0, 1], got {}",
                self.trunk_lr_scale
            ));
        }
        if self.freeze_trunk && self.trunk_lr_scale != 1.0 {
            return Err("--trunk-lr-scale sets the rate of the shared layers, which --freeze trunk does not train: give one of them".into());
        }
        if self.freeze_trunk
            && matches!(
                self.weighting,
                WeightingSpec::GradNorm | WeightingSpec::Mgda | WeightingSpec::PcGrad
            )
        {
            return Err(format!(
                "--weighting {} weighs the tasks by their gradients in the shared layers, which --freeze trunk does not compute; pick another method or train the trunk",
                self.weighting
            ));
        }
        if let DataSource::Synthetic(c) = &self.data {
            if c.subjects < 2 || c.images_per_expression == 0 {
                return Err("--subjects must be at least 2 and --per-expression at least 1".into());
            }
            for (flag, v) in [
                ("--identity-spread", c.identity_spread),
                ("--expression-strength", c.expression_strength),
                ("--nuisance", c.nuisance),
            ] {
                if !(0.0..=10.0).contains(&v) {
                    return Err(format!("{flag} must be in [0, 10], got {v}"));
                }
            }
            c.check_memory(self.preset.architecture().input)
                .map_err(|e| format!("{e}; use fewer --subjects / --per-expression"))?;
        }
        Ok(())
    }
}
