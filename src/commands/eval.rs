//! `facemtl eval`: a checkpoint's figures on its own test fold or on other data.

use std::path::PathBuf;

use clap::Args;
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::train::checkpoint::checkpoint_dir;
use facemtl::train::evaluate::{evaluate, Scope};

use super::{load_checkpoint, DataArgs};

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Evaluate on other data (all of it is test data); default: the run's own test fold.
    #[command(flatten)]
    pub data: DataArgs,
    /// With the run's own data: evaluate this fold instead of the trained one (only
    /// meaningful for a model trained on that fold's training subjects).
    #[arg(long)]
    pub fold: Option<usize>,
}

pub fn run(args: EvalArgs, adapter: Option<String>) -> Result<(), String> {
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    let s = &loaded.checkpoint.sidecar;
    let size = s.config.preset.architecture().input;
    let (dataset, split) = match &args.data.data {
        None => {
            let dataset = s.config.data.load(size).map_err(|e| e.to_string())?;
            let fold = args.fold.unwrap_or(s.config.fold);
            let split = facemtl::data::protocol::split(
                &dataset,
                s.config.folds,
                fold,
                s.config.seed,
                s.config.identification_fraction,
            )
            .map_err(|e| e.to_string())?;
            (dataset, split)
        }
        Some(_) => {
            let dataset = args
                .data
                .source(&SyntheticConfig::default())
                .load(size)
                .map_err(|e| e.to_string())?;
            let split =
                facemtl::data::protocol::Split::all_test(&dataset, &s.fr_classes, &s.fer_classes);
            (dataset, split)
        }
    };
    let m = evaluate(
        &loaded.gpu,
        &loaded.net,
        &loaded.store,
        &dataset,
        &split,
        s.config.seed,
        Scope::Full,
    )?;
    let show =
        |v: Option<f32>| v.map_or("n/a (no labels for it)".to_string(), |v| format!("{v:.4}"));
    println!(
        "checkpoint: {} (epoch {}, step {})",
        checkpoint_dir(&args.checkpoint).display(),
        s.epoch,
        s.step
    );
    println!(
        "test images: {}   identification images: {}   verification pairs: {}",
        split.test.len(),
        split.identification.len(),
        m.verification_pairs
    );
    println!("FER accuracy:                {}", show(m.fer_accuracy));
    println!(
        "FR identification accuracy:  {}",
        show(m.fr_identification_accuracy)
    );
    println!(
        "FR verification accuracy:    {}",
        show(m.fr_verification_accuracy)
    );
    println!(
        "FR verification ROC AUC:     {}",
        show(m.fr_verification_auc)
    );
    if m.fer_confusion.iter().flatten().any(|&c| c > 0) {
        println!("FER confusion matrix (rows: true, columns: predicted):");
        let names = &s.fer_classes;
        println!(
            "{:>10} {}",
            "",
            names
                .iter()
                .map(|n| format!("{:>9.9}", n))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (name, row) in names.iter().zip(&m.fer_confusion) {
            println!(
                "{:>10.10} {}",
                name,
                row.iter()
                    .map(|c| format!("{c:>9}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    Ok(())
}
