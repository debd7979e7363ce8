//! `facemtl gen-data`: the synthetic faces on disk, for people to look at or to train on
//! through `--format manifest`.

use std::io::Write;

use facemtl::data::formats::manifest::HEADER;
use facemtl::data::image::save_png;
use facemtl::data::synthetic::{self, SyntheticConfig};

use super::GenDataArgs;

pub fn run(args: &GenDataArgs) -> Result<(), String> {
    let config = SyntheticConfig {
        subjects: args.subjects,
        images_per_expression: args.per_expression,
        size: args.size,
        seed: args.seed,
        identity_spread: args.identity_spread,
        expression_strength: args.expression_strength,
        nuisance: args.nuisance,
    };
    if config.subjects == 0 || config.images_per_expression == 0 || config.size < 8 {
        return Err(
            "--subjects and --per-expression must be at least 1 and --size at least 8".into(),
        );
    }
    let images_dir = args.out.join("images");
    std::fs::create_dir_all(&images_dir)
        .map_err(|e| format!("cannot create {}: {e}", images_dir.display()))?;
    let started = std::time::Instant::now();
    let images = synthetic::generate_images(&config);
    let manifest_path = args.out.join("manifest.csv");
    let mut manifest = format!("{HEADER}\n");
    let mut counters = std::collections::HashMap::new();
    for img in &images {
        let k = counters.entry((img.subject, img.expression)).or_insert(0);
        *k += 1;
        let name = format!(
            "s{:03}_{}_{}.png",
            img.subject + 1,
            img.expression.name(),
            k
        );
        save_png(
            &images_dir.join(&name),
            &img.pixels,
            config.size,
            config.size,
        )
        .map_err(|e| e.to_string())?;
        manifest.push_str(&format!(
            "images/{name},synthetic{:03},{}\n",
            img.subject + 1,
            img.expression.name()
        ));
    }
    std::fs::File::create(&manifest_path)
        .and_then(|mut f| f.write_all(manifest.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
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
