//! `facemtl eval`: a checkpoint's figures on its own test fold or on other data. On other
//! data, the images of subjects the checkpoint trained on are scored apart from the
//! others, so training images never pass as unseen ones.

use std::path::PathBuf;

use clap::Args;
use facemtl::data::protocol::{HeldOut, Split};
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::data::Dataset;
use facemtl::train::checkpoint::{checkpoint_dir, Sidecar};
use facemtl::train::evaluate::{evaluate, predict, Metrics, Threshold};
use facemtl::train::open_set::reference_gallery;

use super::{load_checkpoint, DataArgs, Loaded};

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Evaluate on other data; default: the run's own test fold.
    #[command(flatten)]
    pub data: DataArgs,
    /// With the run's own data: the fold to evaluate, which must be the one the checkpoint
    /// was trained for (any other fold's test subjects were among its training subjects).
    #[arg(long, value_parser = super::flags::index, allow_negative_numbers = true)]
    pub fold: Option<usize>,
    /// LFW's verification protocol instead: a pairs file in LFW's layout (pairs.txt), each
    /// set scored at the threshold chosen on the other sets.
    #[arg(long, value_name = "FILE", requires = "root", conflicts_with_all = ["data", "fold"])]
    pub pairs: Option<PathBuf>,
    /// With --pairs: the folder of the images, ROOT/NAME/NAME_0001.jpg.
    #[arg(long, value_name = "DIR", requires = "pairs")]
    pub root: Option<PathBuf>,
    /// With --pairs: a manifest of the images with their face boxes and/or landmarks (as
    /// `train` reads them); without it, each image's centre square.
    #[arg(long, value_name = "MANIFEST", requires = "pairs")]
    pub faces: Option<PathBuf>,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

/// The run's own data and split, re-made from its config.
fn own_data(s: &Sidecar, fold: Option<usize>) -> Result<(Dataset, Split), String> {
    if let Some(fold) = fold.filter(|&f| f != s.config.fold) {
        return Err(format!(
            "the checkpoint was trained for fold {} of {}: fold {fold}'s test subjects were among its training subjects, so its figures there would be inflated; train a model with --fold {fold} to evaluate that fold",
            s.config.fold, s.config.folds
        ));
    }
    let dataset = s
        .config
        .data
        .load(&s.config.preprocess())
        .map_err(|e| e.to_string())?;
    if let Some(warning) = s.data_changed(s.config.data.files_digest(&dataset).as_deref()) {
        eprintln!("{warning}");
    }
    let split = facemtl::data::protocol::split(
        &dataset,
        s.config.folds,
        s.config.fold,
        s.config.seed,
        s.config.shares(),
    )
    .map_err(|e| e.to_string())?;
    Ok((dataset, split))
}

pub fn run(args: EvalArgs) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    if args.data.data.is_some() && args.fold.is_some() {
        return Err("--fold applies to the run's own data, not to --data".into());
    }
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    if let (Some(pairs), Some(root)) = (&args.pairs, &args.root) {
        return super::pairs::run(&loaded, pairs, root, args.faces.as_deref());
    }
    let s = &loaded.checkpoint.sidecar;
    let own = args.data.data.is_none();
    let (dataset, split) = if own {
        own_data(s, args.fold)?
    } else {
        let dataset = args
            .data
            .source(&SyntheticConfig::default())
            .load(&s.config.preprocess())
            .map_err(|e| e.to_string())?;
        let split = Split::all_test(&dataset, &s.fr_classes, &s.fer_classes);
        (dataset, split)
    };
    // The threshold stored with a finished run was chosen on its validation split, never
    // on the pairs scored here. A run stopped before its end stores none: on its own data
    // one is chosen on training subjects' pairs; on other data verification is n/a.
    let training_images = [split.train.clone(), split.identification.clone()].concat();
    let (threshold, threshold_origin) = match (s.verification_threshold, own) {
        (Some(t), _) => (
            Threshold::Given(t),
            format!("stored with the checkpoint, {}", s.threshold_origin()),
        ),
        (None, true) => (
            Threshold::FitOn(&training_images),
            format!(
                "chosen here on training subjects' pairs: none stored with the checkpoint ({})",
                s.no_threshold_reason()
            ),
        ),
        (None, false) => (
            Threshold::Skip,
            format!(
                "none stored with the checkpoint ({}): verification accuracy n/a",
                s.no_threshold_reason()
            ),
        ),
    };
    let threshold_origin = threshold_origin.as_str();
    let score = |set: HeldOut, threshold: Threshold| {
        evaluate(
            &loaded.gpu,
            &loaded.net,
            &loaded.store,
            &dataset,
            &split,
            set,
            threshold,
            s.config.seed,
        )
    };
    println!(
        "checkpoint: {} (epoch {}, step {})",
        checkpoint_dir(&args.checkpoint).display(),
        s.epoch,
        s.step
    );
    if own {
        let m = score(split.test_set(), threshold)?;
        println!(
            "test fold: {} images of {} unseen subjects   identification images (held out from training subjects): {}   verification pairs: {}",
            split.test.len(),
            split.test_subjects.len(),
            split.identification.len(),
            m.verification_pairs
        );
        print_metrics(&m, &loaded, threshold_origin, true);
        print_open_set(&loaded, &dataset, &split.test)?;
        return Ok(());
    }
    other_data(
        &dataset,
        &split,
        &loaded,
        threshold,
        threshold_origin,
        score,
    )
}

/// `eval --data`: the subjects the checkpoint never saw, then those it trained on, apart.
fn other_data(
    dataset: &Dataset,
    split: &Split,
    loaded: &Loaded,
    threshold: Threshold,
    threshold_origin: &str,
    score: impl Fn(HeldOut, Threshold) -> Result<Metrics, String>,
) -> Result<(), String> {
    let subjects_of = |images: &[usize]| {
        let mut subjects: Vec<usize> = images
            .iter()
            .filter_map(|&i| dataset.samples[i].subject)
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        subjects.len()
    };
    let unseen = HeldOut {
        fer: &split.test,
        identification: &[],
        verification: &split.test,
    };
    let m = score(unseen, threshold)?;
    println!(
        "subjects the checkpoint never trained on: {} images of {} subjects   verification pairs: {}",
        split.test.len(),
        subjects_of(&split.test),
        m.verification_pairs
    );
    print_metrics(&m, loaded, threshold_origin, false);
    print_open_set(loaded, dataset, &split.test)?;
    if split.identification.is_empty() {
        return Ok(());
    }
    let trained = HeldOut {
        fer: &split.identification,
        identification: &split.identification,
        verification: &[],
    };
    let m = score(trained, Threshold::Skip)?;
    println!(
        "\nsubjects the checkpoint trained on: {} images of {} subjects (its training images may be among them: these figures are not a test of unseen data)",
        split.identification.len(),
        subjects_of(&split.identification)
    );
    let s = &loaded.checkpoint.sidecar;
    print_line(
        "FER accuracy",
        task_figure(s.trains_fer(), m.fer_accuracy, "fr"),
    );
    print_line(
        "FR identification accuracy",
        task_figure(s.trains_fr(), m.fr_identification_accuracy, "fer"),
    );
    Ok(())
}

/// Open-set identification among the subjects of `images` (never trained on): each
/// subject's first reference image enrolled, the others probed.
fn print_open_set(loaded: &Loaded, dataset: &Dataset, images: &[usize]) -> Result<(), String> {
    if !loaded.checkpoint.sidecar.trains_fr() {
        return Ok(());
    }
    let labelled: Vec<usize> = images
        .iter()
        .copied()
        .filter(|&i| dataset.samples[i].subject.is_some())
        .collect();
    let pixels = labelled
        .iter()
        .map(|&i| dataset.pixels(i).map(|p| p.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let embeddings = predict(&loaded.gpu, &loaded.net, &loaded.store, &pixels, 64)?.embeddings;
    let faces: Vec<(usize, bool, &[f32])> = labelled
        .iter()
        .zip(&embeddings)
        .filter_map(|(&i, e)| {
            let s = &dataset.samples[i];
            Some((s.subject?, s.reference, e.as_slice()))
        })
        .collect();
    let Some(f) = reference_gallery(&faces) else {
        println!(
            "open-set identification:     n/a (fewer than two subjects with a reference image)"
        );
        return Ok(());
    };
    let tar = |v: Option<f32>, needed: usize| match v {
        Some(v) => format!("{v:.4}"),
        None => format!("n/a ({} impostor pairs, {needed} needed)", f.impostor_pairs),
    };
    println!(
        "open-set identification:     rank-1 {} over {} probes of {} people (gallery: each one's first reference image)",
        f.rank1_accuracy.map_or("n/a".into(), |v| format!("{v:.4}")),
        f.probes,
        f.gallery_people
    );
    println!(
        "  TAR at FAR 1%:             {}",
        tar(f.tar_at_far_1_percent, 100)
    );
    println!(
        "  TAR at FAR 0.1%:           {}",
        tar(f.tar_at_far_01_percent, 1000)
    );
    Ok(())
}

/// A figure of a task, or why there is none: the task was not trained (the run trained
/// only `other`), or the data has no labels for it.
fn task_figure(trained: bool, value: Option<f32>, other: &str) -> String {
    match (trained, value) {
        (false, _) => format!("not trained (the run was --tasks {other})"),
        (true, None) => "n/a (no labels for it)".to_string(),
        (true, Some(v)) => format!("{v:.4}"),
    }
}

fn print_line(name: &str, value: String) {
    println!("{:<29}{value}", format!("{name}:"));
}

/// The figures of one group of images, and the FER confusion matrix when it has one.
fn print_metrics(m: &Metrics, loaded: &Loaded, threshold_origin: &str, identification: bool) {
    let s = &loaded.checkpoint.sidecar;
    let (fr, fer) = (s.trains_fr(), s.trains_fer());
    if fr {
        let t = m
            .fr_verification_threshold
            .map_or(String::new(), |t| format!("{t:.4} "));
        print_line("verification threshold", format!("{t}({threshold_origin})"));
    }
    print_line("FER accuracy", task_figure(fer, m.fer_accuracy, "fr"));
    if identification {
        print_line(
            "FR identification accuracy",
            task_figure(fr, m.fr_identification_accuracy, "fer"),
        );
    }
    print_line(
        "FR verification accuracy",
        task_figure(fr, m.fr_verification_accuracy, "fer"),
    );
    print_line(
        "FR verification ROC AUC",
        task_figure(fr, m.fr_verification_auc, "fer"),
    );
    if !fer || !m.fer_confusion.iter().flatten().any(|&c| c > 0) {
        return;
    }
    println!("FER confusion matrix (rows: true, columns: predicted):");
    let names = &s.fer_classes;
    let cells = |items: Vec<String>| items.join(" ");
    println!(
        "{:>10} {}",
        "",
        cells(names.iter().map(|n| format!("{n:>9.9}")).collect())
    );
    for (name, row) in names.iter().zip(&m.fer_confusion) {
        println!(
            "{name:>10.10} {}",
            cells(row.iter().map(|c| format!("{c:>9}")).collect())
        );
    }
}
