//! Turning image files into network input: decode (PNG, JPEG, PGM/PNM, TIFF, GIF, BMP),
//! to grayscale or RGB, cut the face out (`align`: landmarks, a box, or the centre square),
//! resize, and standardise per image. RGB input is three planes (channel-major, as the
//! network reads `[3, size, size]`) standardised jointly, one mean and deviation over all
//! three, as TensorFlow's per-image standardisation does: the colours keep their balance
//! (a per-channel standardisation would turn a face's skin tone grey). A grayscale source
//! given `--color rgb` is the same plane three times.

use std::path::Path;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage};
use serde::{Deserialize, Serialize};

use super::align::{self, BoxCrop, FaceRegion};
use super::error::{DataError, Result};
use crate::choice::{display_by_name, named, Choice, Named};

/// The network's input colour (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// One channel.
    #[default]
    Gray,
    /// Three channels, red, green, blue.
    Rgb,
}

impl Choice for Color {
    const VALUES: &'static [Named<Self>] = &[
        named(Color::Gray, "gray", "one channel"),
        named(Color::Rgb, "rgb", "three channels, red, green, blue"),
    ];
}
display_by_name!(Color);

impl Color {
    pub fn channels(self) -> usize {
        match self {
            Color::Gray => 1,
            Color::Rgb => 3,
        }
    }
}

/// How an image file becomes network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    pub size: usize,
    pub color: Color,
    /// Added on each side of a face box, as a share of its larger side.
    pub crop_margin: f32,
    /// How an image file's pixels are scaled for the network.
    pub standardization: Standardization,
    /// How a face box is cut out.
    pub box_crop: BoxCrop,
}

/// How an image file's pixels (in [0, 1]) are scaled for the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Standardization {
    /// Zero mean and unit variance per image ([`standardize`], TensorFlow's).
    #[default]
    PerImage,
    /// FaceNet's fixed map of 8-bit values, (v - 127.5) / 128, the same for every image
    /// (facenet-pytorch's `fixed_image_standardization`), which FaceNet's weights expect.
    Fixed,
}

impl Standardization {
    pub fn apply(self, pixels: &mut [f32]) {
        match self {
            Standardization::PerImage => standardize(pixels),
            Standardization::Fixed => pixels
                .iter_mut()
                .for_each(|v| *v = (*v * 255.0 - 127.5) / 128.0),
        }
    }
}

/// The default `--crop-margin`.
pub const DEFAULT_CROP_MARGIN: f32 = 0.2;

/// Decodes `path` to an image of any kind.
fn decode(path: &Path) -> Result<DynamicImage> {
    let reader = image::ImageReader::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    reader.decode().map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The rectangle (`left`, `top`, `width`, `height`) of `image` resized to `size` x `size`,
/// as planes of `color` in [0, 1], channel-major.
fn region_planes(
    image: &DynamicImage,
    color: Color,
    (left, top, w, h): (u32, u32, u32, u32),
    size: usize,
) -> Vec<f32> {
    match color {
        Color::Gray => gray_region(&image.to_luma8(), (left, top, w, h), size),
        Color::Rgb => {
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8())
                .crop_imm(left, top, w, h)
                .resize_exact(size as u32, size as u32, FilterType::Triangle)
                .to_rgb8();
            (0..3)
                .flat_map(|c| rgb.pixels().map(move |p| p.0[c] as f32 / 255.0))
                .collect()
        }
    }
}

/// The rectangle (`left`, `top`, `width`, `height`) of a grayscale image resized to
/// `size` x `size`, in [0, 1].
fn gray_region(
    image: &GrayImage,
    (left, top, w, h): (u32, u32, u32, u32),
    size: usize,
) -> Vec<f32> {
    let cropped = image::imageops::crop_imm(image, left, top, w, h).to_image();
    let resized = image::imageops::resize(&cropped, size as u32, size as u32, FilterType::Triangle);
    resized.pixels().map(|p| p.0[0] as f32 / 255.0).collect()
}

/// Planes of `color` at full resolution, channel-major, in [0, 1].
fn full_planes(image: &DynamicImage, color: Color) -> Vec<Vec<f32>> {
    match color {
        Color::Gray => vec![image
            .to_luma8()
            .pixels()
            .map(|p| p.0[0] as f32 / 255.0)
            .collect()],
        Color::Rgb => {
            let rgb = image.to_rgb8();
            (0..3)
                .map(|c| rgb.pixels().map(|p| p.0[c] as f32 / 255.0).collect())
                .collect()
        }
    }
}

/// Decodes `path`, cuts out the face `region` (`align`), resizes and standardises: the
/// network input of one image, `[channels, size, size]` flattened.
pub fn load_face(path: &Path, region: &FaceRegion, how: &Preprocess) -> Result<Vec<f32>> {
    let image = decode(path)?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let size = how.size;
    let layout = |message: String| DataError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let box_planes = |face_box: [f32; 4]| -> Result<Vec<f32>> {
        let rect = match how.box_crop {
            BoxCrop::Square => align::box_square(face_box, how.crop_margin, width, height)
                .map(|(left, top, side)| (left, top, side, side)),
            BoxCrop::Facenet { margin } => {
                align::facenet_box(face_box, margin, size, width, height)
            }
        }
        .map_err(layout)?;
        Ok(region_planes(&image, how.color, rect, size))
    };
    let mut pixels = match *region {
        FaceRegion::Centre => {
            let side = width.min(height) as u32;
            let square = (
                (width as u32 - side) / 2,
                (height as u32 - side) / 2,
                side,
                side,
            );
            region_planes(&image, how.color, square, size)
        }
        FaceRegion::Box { x, y, w, h } => box_planes([x, y, w, h])?,
        // A row with landmarks and a box: the box under FaceNet's crop, else the landmarks.
        FaceRegion::LandmarksAndBox { face_box, .. }
            if matches!(how.box_crop, BoxCrop::Facenet { .. }) =>
        {
            box_planes(face_box)?
        }
        FaceRegion::Landmarks(points) | FaceRegion::LandmarksAndBox { points, .. } => {
            align::check_landmarks(&points, width, height).map_err(layout)?;
            let fit = align::Similarity::fit(&points, &align::template(size))
                .ok_or_else(|| layout("the five landmarks coincide".into()))?;
            full_planes(&image, how.color)
                .iter()
                .flat_map(|plane| align::warp(plane, width, height, &fit, size))
                .collect()
        }
    };
    how.standardization.apply(&mut pixels);
    Ok(pixels)
}

/// `pixels` of one grayscale plane as `color` (three copies for RGB).
pub fn as_color(pixels: &[f32], color: Color) -> Vec<f32> {
    (0..color.channels())
        .flat_map(|_| pixels.iter().copied())
        .collect()
}

/// Centre-crops to a square and resizes to `size` x `size`, as f32 in [0, 1].
pub fn to_square(image: &GrayImage, size: usize) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let side = w.min(h);
    gray_region(image, ((w - side) / 2, (h - side) / 2, side, side), size)
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
    // Encoded in memory, then written: the image crate's own save writes through a buffer
    // whose last bytes go out when it is dropped, where a write error (a full disk) is lost.
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| DataError::write(path, e))?;
    std::fs::write(path, png.into_inner()).map_err(|e| DataError::write(path, e))
}
