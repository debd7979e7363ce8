//! `facemtl identify`: who in my gallery is this? The gallery's people are enrolled (the
//! normalised mean embedding of each person's images), each probe is ranked against them
//! by cosine similarity, and a probe whose best score is under the threshold is "unknown".
//! Nobody in the gallery needs to have been in the training data.

use std::path::PathBuf;

use clap::Args;
use facemtl::data::formats::Format;
use facemtl::train::open_set::Gallery;

use super::faces;
use super::{load_checkpoint, DataArgs};

#[derive(Args)]
pub struct IdentifyArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// The people to recognise: a manifest CSV (path,subject,...), a folder holding
    /// manifest.csv, or a folder of one folder of images per person (PERSON/IMAGE).
    #[arg(long, value_name = "MANIFEST_OR_DIR")]
    pub gallery: PathBuf,
    /// Turn the gallery's unreadable images and malformed rows into warnings.
    #[arg(long)]
    pub skip_bad: bool,
    /// Face images to identify.
    #[arg(required = true, value_name = "PROBE")]
    pub probes: Vec<PathBuf>,
    /// People to list per probe.
    #[arg(long, value_parser = super::flags::at_least::<1>, allow_negative_numbers = true, default_value_t = 3)]
    pub top_k: usize,
    /// "Unknown" below this cosine similarity, instead of the checkpoint's verification
    /// threshold.
    #[arg(long, value_parser = super::flags::cosine, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

/// The gallery's layout: a manifest (a CSV, or a folder with manifest.csv), else folders.
fn gallery_data(args: &IdentifyArgs) -> Result<DataArgs, String> {
    let path = &args.gallery;
    if !path.exists() {
        return Err(format!(
            "--gallery {}: no such file or directory",
            path.display()
        ));
    }
    // An image given as the gallery: say what the flag takes before the CSV reader says
    // the image is not text.
    if path.is_file() && image::ImageFormat::from_path(path).is_ok() {
        return Err(format!(
            "--gallery {} is an image; --gallery takes the people to recognise: a manifest CSV (path,subject) or a folder with one folder of images per person (probe images go after the flags)",
            path.display()
        ));
    }
    let format = if path.is_dir() && !path.join("manifest.csv").is_file() {
        Format::Folders
    } else {
        Format::Manifest
    };
    Ok(DataArgs {
        data: Some(path.clone()),
        format,
        skip_bad: args.skip_bad,
    })
}

pub fn run(args: IdentifyArgs) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    let data = gallery_data(&args)?;
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    faces::require_face_recognition(&loaded, "identify")?;
    let how = loaded.checkpoint.sidecar.config.preprocess();
    let enrolled: Vec<faces::Face> = faces::from_data(&data, &how)?
        .into_iter()
        .filter(|f| f.person.is_some())
        .collect();
    if enrolled.is_empty() {
        return Err(format!(
            "--gallery {}: no image there names its person (a manifest needs the subject column; a folder, one folder of images per person)",
            args.gallery.display()
        ));
    }
    let threshold = match (
        args.threshold,
        loaded.checkpoint.sidecar.verification_threshold,
    ) {
        (Some(t), _) => t,
        (None, Some(t)) => t,
        (None, None) => {
            return Err(format!(
                "the checkpoint stores no verification threshold ({}); pass --threshold",
                loaded.checkpoint.sidecar.no_threshold_reason()
            ))
        }
    };
    let probes = faces::from_paths(&args.probes, &how)?;
    let gallery_embeddings = faces::embed(&loaded, &enrolled, args.quiet)?;
    let gallery = Gallery::enrol(
        enrolled
            .iter()
            .zip(&gallery_embeddings)
            .map(|(f, e)| (f.person.as_deref().unwrap_or_default(), e.as_slice())),
    );
    println!(
        "gallery: {} people from {} images; unknown below similarity {threshold:.4}",
        gallery.names.len(),
        enrolled.len()
    );
    let probe_embeddings = faces::embed(&loaded, &probes, args.quiet)?;
    for (probe, embedding) in probes.iter().zip(&probe_embeddings) {
        let ranked = gallery.rank(embedding);
        let (best, score) = ranked[0];
        let answer = if score >= threshold {
            gallery.names[best].clone()
        } else {
            "unknown".to_string()
        };
        let listed: Vec<String> = ranked
            .iter()
            .take(args.top_k)
            .map(|&(k, s)| format!("{} {s:.3}", gallery.names[k]))
            .collect();
        println!("{}: {answer}   ({})", probe.origin, listed.join(", "));
    }
    Ok(())
}
