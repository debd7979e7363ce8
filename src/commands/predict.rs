//! `facemtl predict`: identity (top-k) and expression of face images.

use std::path::PathBuf;

use clap::Args;
use facemtl::train::evaluate::predict as run_predict;

use super::load_checkpoint;

#[derive(Args)]
pub struct PredictArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Face images (PNG, JPEG, PGM, TIFF, GIF, BMP).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Identities to list per image (at least 1).
    #[arg(long, value_parser = super::flags::at_least::<1>, allow_negative_numbers = true, default_value_t = 3)]
    pub top_k: usize,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

fn top(probs: &[f32], names: &[String], k: usize) -> String {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .iter()
        .take(k.max(1))
        .map(|(i, p)| format!("{} {:.3}", names.get(*i).map_or("?", String::as_str), p))
        .collect::<Vec<_>>()
        .join("  ")
}

pub fn run(args: PredictArgs) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    let s = &loaded.checkpoint.sidecar;
    // The readable images are predicted; the others are named in the error at the end.
    let (faces, failed) = super::faces::read(&args.images, &s.config.preprocess());
    let images: Vec<Vec<f32>> = faces.iter().map(|f| f.pixels.clone()).collect();
    let p = run_predict(&loaded.gpu, &loaded.net, &loaded.store, &images, 64)?;
    // A head the run did not train holds its initial weights: nothing it says is printed.
    let (fr, fer) = (s.trains_fr(), s.trains_fer());
    if !fr {
        println!("(no identities: the checkpoint was trained for expressions only)");
    }
    if !fer {
        println!("(no expressions: the checkpoint was trained for identities only)");
    }
    for (i, face) in faces.iter().enumerate() {
        println!("{}", face.origin);
        if fr && !s.fr_classes.is_empty() {
            println!(
                "  identity:   {}",
                top(&p.fr_probs[i], &s.fr_classes, args.top_k)
            );
        }
        if fer && !s.fer_classes.is_empty() {
            println!(
                "  expression: {}",
                top(&p.fer_probs[i], &s.fer_classes, s.fer_classes.len())
            );
        }
    }
    super::faces::unreadable(&failed).map_or(Ok(()), Err)
}
