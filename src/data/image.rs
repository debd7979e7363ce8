//! Turning image files into network input: decode (PNG, JPEG, PGM/PNM, TIFF, GIF, BMP),
//! grayscale, centre square crop, resize, per-image standardisation.

use std::path::Path;

use image::imageops::FilterType;
use image::GrayImage;

use super::error::{DataError, Result};

/// Decodes `path` to 8-bit grayscale.
pub fn decode_gray(path: &Path) -> Result<GrayImage> {
    let reader = image::ImageReader::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(decoded.to_luma8())
}

/// Centre-crops to a square and resizes to `size` x `size`, as f32 in [0, 1].
pub fn to_square(image: &GrayImage, size: usize) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let side = w.min(h);
    let cropped =
        image::imageops::crop_imm(image, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let resized = image::imageops::resize(&cropped, size as u32, size as u32, FilterType::Triangle);
    resized.pixels().map(|p| p.0[0] as f32 / 255.0).collect()
}

/// Per-image standardisation (TensorFlow's): zero mean, unit variance, with the standard
/// deviation floored at 1/sqrt(n) so a flat image does not blow up.
pub fn standardize(pixels: &mut [f32]) {
    // The sums in f64: f32 sums one after another put the mean of 2304 pixels about 1e-6
    // off (7e-6 of the standardised scale), the same way for every image.
    let n = pixels.len().max(1) as f64;
    let mean = pixels.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = pixels
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt().max(1.0 / n.sqrt());
    pixels
        .iter_mut()
        .for_each(|v| *v = ((*v as f64 - mean) / std) as f32);
}

/// Decode, square, resize and standardise in one go.
pub fn load_input(path: &Path, size: usize) -> Result<Vec<f32>> {
    let mut pixels = to_square(&decode_gray(path)?, size);
    standardize(&mut pixels);
    Ok(pixels)
}

/// Writes `pixels` (any range) as an 8-bit PNG, stretched to the full range.
pub fn save_png(path: &Path, pixels: &[f32], width: usize, height: usize) -> Result<()> {
    let (lo, hi) = pixels
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = (hi - lo).max(1e-6);
    let bytes: Vec<u8> = pixels
        .iter()
        .map(|&v| ((v - lo) / span * 255.0).round() as u8)
        .collect();
    let image = GrayImage::from_raw(width as u32, height as u32, bytes).ok_or_else(|| {
        DataError::Unusable(format!(
            "{} pixels do not make a {width}x{height} image",
            pixels.len()
        ))
    })?;
    image.save(path).map_err(|e| DataError::io(path, e))
}
