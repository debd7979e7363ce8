//! `facemtl verify`: are two photos the same person? The cosine similarity of their FR
//! embeddings against the checkpoint's verification threshold (chosen on its validation
//! split), or `--threshold`.

use std::path::PathBuf;

use clap::Args;
use facemtl::train::open_set::similarity;

use super::faces;
use super::load_checkpoint;

#[derive(Args)]
pub struct VerifyArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Images in pairs: A B [A B ...]; each pair is compared.
    #[arg(required = true, num_args = 2.., value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// "Same person" from this cosine similarity up, instead of the checkpoint's threshold.
    #[arg(long, value_parser = super::flags::cosine, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

pub fn run(args: VerifyArgs) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    if args.images.len() % 2 != 0 {
        return Err(format!(
            "give the images in pairs, A B [A B ...]: {} images leave {} without a partner",
            args.images.len(),
            args.images
                .last()
                .map_or(String::new(), |p| p.display().to_string())
        ));
    }
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    faces::require_face_recognition(&loaded, "verify")?;
    let s = &loaded.checkpoint.sidecar;
    let (threshold, origin) = match (args.threshold, s.verification_threshold) {
        (Some(t), _) => (t, "--threshold".to_string()),
        (None, Some(t)) => (t, format!("the checkpoint's, {}", s.threshold_origin())),
        (None, None) => {
            return Err(format!(
                "the checkpoint stores no verification threshold ({}); pass --threshold",
                s.no_threshold_reason()
            ))
        }
    };
    let faces = faces::from_paths(&args.images, &s.config.preprocess())?;
    let embeddings = faces::embed(&loaded, &faces, true)?;
    println!("threshold {threshold:.4} ({origin})");
    for (pair, emb) in faces.chunks(2).zip(embeddings.chunks(2)) {
        let score = similarity(&emb[0], &emb[1]);
        let verdict = if score >= threshold {
            "same person"
        } else {
            "different people"
        };
        println!(
            "{}  {}  similarity {score:.4}  {verdict}",
            pair[0].origin, pair[1].origin
        );
    }
    Ok(())
}
