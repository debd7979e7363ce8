//! `facemtl gen-data`: the synthetic faces on disk, for people to look at or to train on
//! through `--format manifest`.

use std::path::PathBuf;

use super::flags;
use clap::Args;
use facemtl::data::image::save_png;
use facemtl::data::synthetic::{self, SyntheticConfig};

#[derive(Args)]
pub struct GenDataArgs {
    /// Output folder (created if missing): images/, manifest.csv, montage.png.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub synthetic: super::synthetic::SyntheticArgs,
    /// Image side in pixels, in [8, 1024].
    #[arg(long, value_parser = flags::between::<8, 1024>, allow_negative_numbers = true, default_value_t = SyntheticConfig::default().size)]
    pub size: usize,
    /// Write into --out even if it already holds files (same-named files are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Also write each face's five landmarks (lex,ley,...,rmy) and a face box (x,y,w,h)
    /// into the manifest, so training aligns the faces (undoing --nuisance's pose).
    #[arg(long)]
    pub landmarks: bool,
}

/// A manifest row, written by the `csv` crate under the header `path,subject,expression`.
#[derive(serde::Serialize)]
struct ManifestRow {
    path: String,
    subject: String,
    expression: &'static str,
}

/// A manifest row with the face's box and landmarks (`--landmarks`).
#[derive(serde::Serialize)]
struct AlignedRow {
    path: String,
    subject: String,
    expression: &'static str,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    lex: f32,
    ley: f32,
    rex: f32,
    rey: f32,
    nx: f32,
    ny: f32,
    lmx: f32,
    lmy: f32,
    rmx: f32,
    rmy: f32,
}

/// Rounded to hundredths of a pixel.
fn hundredths(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

impl AlignedRow {
    /// The row of a face with landmarks `p`; its box a square around them, 2.2 times the
    /// distance from the eyes' midpoint to the mouth's, clamped to the image.
    fn new(row: ManifestRow, p: &[[f32; 2]; 5], size: usize) -> AlignedRow {
        let mean = |k: usize| p.iter().map(|q| q[k]).sum::<f32>() / 5.0;
        let eyes = [(p[0][0] + p[1][0]) / 2.0, (p[0][1] + p[1][1]) / 2.0];
        let mouth = [(p[3][0] + p[4][0]) / 2.0, (p[3][1] + p[4][1]) / 2.0];
        let side = (2.2 * (mouth[0] - eyes[0]).hypot(mouth[1] - eyes[1])).min(size as f32);
        let corner = |c: f32| (c - side / 2.0).clamp(0.0, size as f32 - side);
        let h = hundredths;
        AlignedRow {
            path: row.path,
            subject: row.subject,
            expression: row.expression,
            x: h(corner(mean(0))),
            y: h(corner(mean(1))),
            w: h(side),
            h: h(side),
            lex: h(p[0][0]),
            ley: h(p[0][1]),
            rex: h(p[1][0]),
            rey: h(p[1][1]),
            nx: h(p[2][0]),
            ny: h(p[2][1]),
            lmx: h(p[3][0]),
            lmy: h(p[3][1]),
            rmx: h(p[4][0]),
            rmy: h(p[4][1]),
        }
    }
}

pub fn run(args: &GenDataArgs) -> Result<(), String> {
    let config = SyntheticConfig {
        size: args.size,
        ..args.synthetic.config()
    };
    config
        .check_memory(config.size)
        .map_err(|e| format!("{e}; use fewer --subjects / --per-expression or a smaller --size"))?;
    if args.out.is_file() {
        return Err(format!(
            "--out {} is a file, not a directory; pick a directory",
            args.out.display()
        ));
    }
    let holds_files = std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some());
    if holds_files && !args.overwrite {
        return Err(format!(
            "--out {} is not empty; pick a new directory or pass --overwrite to replace its manifest.csv, montage.png and images/",
            args.out.display()
        ));
    }
    let images_dir = args.out.join("images");
    std::fs::create_dir_all(&images_dir)
        .map_err(|e| format!("cannot create {}: {e}", images_dir.display()))?;
    let started = std::time::Instant::now();
    let images = synthetic::generate_images(&config);
    let manifest_path = args.out.join("manifest.csv");
    // The manifest is written aside and renamed into place once every image is written, so
    // a failed write (a full disk) leaves no manifest that lists missing or cut images.
    let partial = args.out.join("manifest.csv.partial");
    let written = write_images(args, &config, &images, &images_dir, &partial).and_then(|()| {
        std::fs::rename(&partial, &manifest_path)
            .map_err(|e| format!("{}: cannot write: {e}", manifest_path.display()))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        let _ = std::fs::remove_file(&manifest_path);
        return Err(format!(
            "{e}; the folder holds no manifest, so it is not a data set (free space and run gen-data again with --overwrite)"
        ));
    }
    let (canvas, width, height) = synthetic::montage(&config, 8);
    let montage_path = args.out.join("montage.png");
    save_png(&montage_path, &canvas, width, height).map_err(|e| e.to_string())?;
    println!(
        "wrote {} images of {} subjects x 7 expressions ({}x{} px) in {:.1} s to {}",
        images.len(),
        config.subjects,
        config.size,
        config.size,
        started.elapsed().as_secs_f64(),
        images_dir.display()
    );
    println!("manifest: {}", manifest_path.display());
    println!("montage (rows: subjects; columns: neutral, happiness, sadness, surprise, anger, disgust, fear): {}", montage_path.display());
    Ok(())
}

/// Writes every image's PNG into `images_dir` and the manifest listing them to `manifest_path`;
/// an image that fails to write is removed, not left cut short.
fn write_images(
    args: &GenDataArgs,
    config: &SyntheticConfig,
    images: &[synthetic::SyntheticImage],
    images_dir: &std::path::Path,
    manifest_path: &std::path::Path,
) -> Result<(), String> {
    let write_error =
        |e: &dyn std::fmt::Display| format!("{}: cannot write: {e}", manifest_path.display());
    let mut manifest = csv::Writer::from_path(manifest_path).map_err(|e| write_error(&e))?;
    let mut counters = std::collections::HashMap::new();
    for img in images {
        let k = counters.entry((img.subject, img.expression)).or_insert(0);
        *k += 1;
        let name = format!(
            "s{:03}_{}_{}.png",
            img.subject + 1,
            img.expression.name(),
            k
        );
        let png = images_dir.join(&name);
        if let Err(e) = save_png(&png, &img.pixels, config.size, config.size) {
            let _ = std::fs::remove_file(&png);
            return Err(e.to_string());
        }
        let row = ManifestRow {
            path: format!("images/{name}"),
            subject: format!("synthetic{:03}", img.subject + 1),
            expression: img.expression.name(),
        };
        let written = if args.landmarks {
            manifest.serialize(AlignedRow::new(row, &img.landmarks, config.size))
        } else {
            manifest.serialize(row)
        };
        written.map_err(|e| write_error(&e))?;
    }
    manifest.flush().map_err(|e| write_error(&e))?;
    manifest
        .into_inner()
        .map_err(|e| write_error(&e.error()))?
        .sync_all()
        .map_err(|e| write_error(&e))
}
