//! The subcommands, one per module. Each returns `Err(message)` for the user; nothing here
//! panics on bad input.

mod choice;
pub mod compare;
pub mod embed;
pub mod eval;
mod faces;
pub(crate) mod flags;
pub mod gen_data;
pub mod identify;
pub mod info;
mod pairs;
pub mod predict;
mod synthetic;
pub mod train;
pub mod verify;

use std::path::{Path, PathBuf};

use clap::Args;
use facemtl::autodiff::ParamStore;
use facemtl::data::formats::Format;
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::gpu::{Gpu, GpuOptions};
use facemtl::model::MultiTaskNet;
use facemtl::train::checkpoint::Checkpoint;
use facemtl::train::config::DataSource;

/// The flags typed on the command line (as `--name`) among those of `A`, from clap's
/// matches of its subcommand.
pub fn flags_given<A: clap::Args>(matches: &clap::ArgMatches) -> Vec<String> {
    A::augment_args(clap::Command::new("flags"))
        .get_arguments()
        .filter(|arg| {
            matches.value_source(arg.get_id().as_str())
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

/// `--resume DIR` keeps the saved settings: any flag typed besides `--resume` and
/// `allowed` is an error naming them.
fn refuse_changes(given: &[String], allowed: &[&str], dir: &Path) -> Result<(), String> {
    let changing: Vec<&str> = given
        .iter()
        .map(String::as_str)
        .filter(|flag| *flag != "--resume" && !allowed.contains(flag))
        .collect();
    if changing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "--resume continues {} with its saved settings; {} would change them (only {} may be given; start a new run with --out to change settings)",
        dir.display(),
        changing.join(", "),
        allowed.join(" and ")
    ))
}

/// A run directory given as `--out` (or `--resume` when `resume`): not a file, and, to
/// resume, an existing directory.
fn check_run_dir(dir: &Path, resume: bool) -> Result<(), String> {
    let flag = if resume { "--resume" } else { "--out" };
    if dir.is_file() {
        return Err(format!(
            "{flag} {} is a file, not a directory; name a directory",
            dir.display()
        ));
    }
    if resume && !dir.is_dir() {
        return Err(format!(
            "--resume {}: no such directory, so no run to continue; start one with --out {0}",
            dir.display()
        ));
    }
    Ok(())
}

/// The adapter for a command; `training` adds what the adapter means for training speed.
fn open_gpu(adapter: Option<String>, training: bool) -> Result<Gpu, String> {
    Gpu::new(&GpuOptions {
        adapter,
        quiet: false,
        speed_notes: training,
    })
    .map_err(|e| e.to_string())
}

/// `--adapter`, on the commands that use the GPU.
#[derive(Args, Clone, Default)]
pub struct AdapterArg {
    /// Use the adapter whose name contains this text (case-insensitive), e.g. "llvmpipe".
    /// WGPU_BACKEND=vulkan|metal|dx12|gl picks the backend.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

/// Where the images come from (shared by train and eval).
#[derive(Args, Clone)]
pub struct DataArgs {
    /// A dataset folder or file; without it, the built-in synthetic faces.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Layout of --data.
    #[arg(long, value_parser = choice::parser::<Format>(), ignore_case = true, default_value_t = Format::Manifest)]
    pub format: Format,
    /// Turn unreadable images and malformed rows into warnings (counted in the summary).
    #[arg(long)]
    pub skip_bad: bool,
}

impl DataArgs {
    /// The files of --data, or else `synthetic` faces.
    fn source(&self, synthetic: &SyntheticConfig) -> DataSource {
        match &self.data {
            Some(path) => {
                // A gen-data folder stands for its manifest.
                let manifest = path.join("manifest.csv");
                let path = if self.format == Format::Manifest && manifest.is_file() {
                    &manifest
                } else {
                    path
                };
                // An absolute path, so that eval and --resume find the data from any folder.
                let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                DataSource::Files {
                    path: path.display().to_string(),
                    format: self.format,
                    skip_bad: self.skip_bad,
                }
            }
            None => DataSource::Synthetic(synthetic.clone()),
        }
    }
}

/// The network and weights of a checkpoint.
pub struct Loaded {
    pub gpu: Gpu,
    pub checkpoint: Checkpoint,
    pub net: MultiTaskNet,
    pub store: ParamStore,
}

pub fn load_checkpoint(path: &Path, adapter: Option<String>) -> Result<Loaded, String> {
    let checkpoint = Checkpoint::load_model(path)?;
    let gpu = open_gpu(adapter, false)?;
    let mut store = ParamStore::new();
    let s = &checkpoint.sidecar;
    let net = MultiTaskNet::with_input_channels(
        &gpu,
        &mut store,
        s.config.preset,
        s.config.color.channels(),
        s.fr_classes.len(),
        s.fer_classes.len(),
        0,
    )
    .map_err(|e| e.to_string())?;
    checkpoint.restore_model(&gpu, &store)?;
    Ok(Loaded {
        gpu,
        checkpoint,
        net,
        store,
    })
}
