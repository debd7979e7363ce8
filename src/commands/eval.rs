//! `facemtl eval`: a checkpoint's figures on its own test fold or on other data.

use std::path::PathBuf;

use clap::Args;
use facemtl::data::protocol::Split;
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::train::checkpoint::checkpoint_dir;
use facemtl::train::evaluate::{evaluate, Threshold};

use super::{load_checkpoint, DataArgs};

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Evaluate on other data (all of it is test data); default: the run's own test fold.
    #[command(flatten)]
    pub data: DataArgs,
    /// With the run's own data: the fold to evaluate, which must be the one the checkpoint
    /// was trained for (any other fold's test subjects were among its training subjects).
    #[arg(long)]
    pub fold: Option<usize>,
}

pub fn run(args: EvalArgs, adapter: Option<String>) -> Result<(), String> {
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    let s = &loaded.checkpoint.sidecar;
    let size = s.config.preset.architecture().input;
    let own_data = args.data.data.is_none();
    let (dataset, split) = if own_data {
        if let Some(fold) = args.fold.filter(|&f| f != s.config.fold) {
            return Err(format!(
                "the checkpoint was trained for fold {} of {}: fold {fold}'s test subjects were among its training subjects, so its figures there would be inflated; train a model with --fold {fold} to evaluate that fold",
                s.config.fold, s.config.folds
            ));
        }
        let dataset = s.config.data.load(size).map_err(|e| e.to_string())?;
        let split = facemtl::data::protocol::split(
            &dataset,
            s.config.folds,
            s.config.fold,
            s.config.seed,
            s.config.shares(),
        )
        .map_err(|e| e.to_string())?;
        (dataset, split)
    } else {
        if args.fold.is_some() {
            return Err("--fold applies to the run's own data, not to --data".into());
        }
        let dataset = args
            .data
            .source(&SyntheticConfig::default())
            .load(size)
            .map_err(|e| e.to_string())?;
        let split = Split::all_test(&dataset, &s.fr_classes, &s.fer_classes);
        (dataset, split)
    };
    // The threshold stored with the checkpoint was chosen on the run's validation split,
    // never on the pairs scored here. Checkpoints from before it was stored: on its own
    // data, chosen on training subjects' pairs as then; on other data, none.
    let training_subjects = [split.train.clone(), split.identification.clone()].concat();
    let (threshold, threshold_origin) = match (s.verification_threshold, own_data) {
        (Some(t), _) => (
            Threshold::Given(t),
            "stored with the checkpoint (chosen on its validation split)",
        ),
        (None, true) => (
            Threshold::FitOn(&training_subjects),
            "chosen on training subjects' pairs (the checkpoint stores none)",
        ),
        (None, false) => (
            Threshold::Skip,
            "none stored with the checkpoint: verification accuracy n/a",
        ),
    };
    let m = evaluate(
        &loaded.gpu,
        &loaded.net,
        &loaded.store,
        &dataset,
        &split,
        split.test_set(),
        threshold,
        s.config.seed,
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
    let threshold_text = m
        .fr_verification_threshold
        .map_or(String::new(), |t| format!("{t:.4} "));
    println!("verification threshold:      {threshold_text}({threshold_origin})");
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
