//! `facemtl embed`: the L2-normalised FR embedding of every image, for people's own tools:
//! a CSV (`path,subject,e0..eN`) or a safetensors file (`embeddings` [n, d], with the paths
//! and subjects as JSON lists in its metadata).

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use safetensors::tensor::{Dtype, TensorView};

use super::faces::{self, Face};
use super::{load_checkpoint, DataArgs};

#[derive(Args)]
pub struct EmbedArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Face images (PNG, JPEG, PGM, TIFF, GIF, BMP); or --data.
    #[arg(
        value_name = "IMAGE",
        required_unless_present = "data",
        conflicts_with = "data"
    )]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write: FILE.csv (path,subject,e0..eN) or FILE.safetensors.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

/// The format of --out, from its extension.
enum Output {
    Csv,
    Safetensors,
}

fn output_format(path: &std::path::Path) -> Result<Output, String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "csv" => Ok(Output::Csv),
        Some(e) if e == "safetensors" => Ok(Output::Safetensors),
        _ => Err(format!(
            "--out {}: name a .csv or a .safetensors file",
            path.display()
        )),
    }
}

pub fn run(args: EmbedArgs) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    let format = output_format(&args.out)?;
    if args.out.exists() && !args.overwrite {
        return Err(format!(
            "--out {} exists; pass --overwrite to replace it",
            args.out.display()
        ));
    }
    // The output names each image's file; a name that is not UTF-8 cannot be written as
    // itself (it would become another name, with U+FFFD in place of its bytes).
    if let Some(bad) = args.images.iter().find(|p| p.to_str().is_none()) {
        return Err(not_utf8(&bad.display().to_string()));
    }
    let loaded = load_checkpoint(&args.checkpoint, adapter)?;
    faces::require_face_recognition(&loaded, "embed")?;
    let how = loaded.checkpoint.sidecar.config.preprocess();
    let faces = match &args.data.data {
        Some(_) => faces::from_data(&args.data, &how)?,
        None => faces::from_paths(&args.images, &how)?,
    };
    if faces.is_empty() {
        return Err("no images to embed".into());
    }
    if let Some(bad) = faces.iter().find(|f| f.origin.contains('\u{FFFD}')) {
        return Err(not_utf8(&bad.origin));
    }
    let embeddings = faces::embed(&loaded, &faces, args.quiet)?;
    let bytes = match format {
        Output::Csv => csv_bytes(&faces, &embeddings)?,
        Output::Safetensors => safetensors_bytes(&faces, &embeddings)?,
    };
    std::fs::write(&args.out, bytes)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!(
        "wrote {} embeddings of {} dimensions to {}",
        embeddings.len(),
        embeddings[0].len(),
        args.out.display()
    );
    Ok(())
}

fn not_utf8(shown: &str) -> String {
    format!(
        "{shown}: the file's name is not UTF-8 text, so --out could not name it as it is (it would list another name); rename the file"
    )
}

fn csv_bytes(faces: &[Face], embeddings: &[Vec<f32>]) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let dims = embeddings[0].len();
    let mut header = vec!["path".to_string(), "subject".to_string()];
    header.extend((0..dims).map(|k| format!("e{k}")));
    let error = |e: csv::Error| e.to_string();
    writer.write_record(&header).map_err(error)?;
    for (face, embedding) in faces.iter().zip(embeddings) {
        let mut row = vec![face.origin.clone(), face.person.clone().unwrap_or_default()];
        row.extend(embedding.iter().map(|v| v.to_string()));
        writer.write_record(&row).map_err(error)?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

fn safetensors_bytes(faces: &[Face], embeddings: &[Vec<f32>]) -> Result<Vec<u8>, String> {
    let flat: Vec<f32> = embeddings.iter().flatten().copied().collect();
    let shape = vec![embeddings.len(), embeddings[0].len()];
    let view = TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(&flat))
        .map_err(|e| e.to_string())?;
    let list = |items: Vec<String>| serde_json::to_string(&items).unwrap_or_default();
    let metadata = HashMap::from([
        (
            "paths".to_string(),
            list(faces.iter().map(|f| f.origin.clone()).collect()),
        ),
        (
            "subjects".to_string(),
            list(
                faces
                    .iter()
                    .map(|f| f.person.clone().unwrap_or_default())
                    .collect(),
            ),
        ),
    ]);
    safetensors::tensor::serialize([("embeddings", view)], Some(metadata))
        .map_err(|e| e.to_string())
}
