//! Faces cut out as the manifest says: five landmarks warped onto the template land where
//! they should, a face box crops exactly, RGB keeps its three channels, and malformed
//! coordinates are errors naming the file and line.

mod common;

use std::path::{Path, PathBuf};

use facemtl::data::align::{self, FaceRegion, Similarity};
use facemtl::data::formats::Format;
use facemtl::data::image::{load_face, standardize, Color, Preprocess};
use image::{GrayImage, Luma, Rgb, RgbImage};

/// A path `name` in this binary's scratch folder (emptied when first asked for).
fn temp(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = common::scratch_dir("files");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    dir.join(name)
}

fn gray(size: usize) -> Preprocess {
    Preprocess {
        size,
        color: Color::Gray,
        crop_margin: 0.0,
        standardization: Default::default(),
        box_crop: Default::default(),
    }
}

#[test]
fn landmarks_warped_onto_the_template_land_on_it() {
    // A 120 x 90 image, dark, with a bright blob at each of five points placed where a
    // known similarity (scale 0.9, 25 degrees, a shift) takes the 48-pixel template.
    let size = 48;
    let (sin, cos) = 25f32.to_radians().sin_cos();
    let pose = Similarity {
        a: 0.9 * cos,
        b: 0.9 * sin,
        tx: 41.0,
        ty: 7.0,
    };
    let template = align::template(size);
    let points = template.map(|q| pose.apply(q));
    let image = GrayImage::from_fn(120, 90, |x, y| {
        let glow: f32 = points
            .iter()
            .map(|p| (-((x as f32 - p[0]).powi(2) + (y as f32 - p[1]).powi(2)) / 3.0).exp())
            .sum();
        Luma([(20.0 + 230.0 * glow.min(1.0)) as u8])
    });
    let path = temp("landmarks.png");
    image.save(&path).unwrap();
    let pixels = load_face(&path, &FaceRegion::Landmarks(points), &gray(size)).unwrap();
    // Each template point is a bright local maximum of the crop, within a pixel.
    for [tx, ty] in template {
        let (cx, cy) = (tx.round() as isize, ty.round() as isize);
        let at = |x: isize, y: isize| pixels[y as usize * size + x as usize];
        let peak = at(cx, cy);
        assert!(peak > 2.0, "the point ({tx}, {ty}) is not bright: {peak}");
        for (dx, dy) in [(-3, 0), (3, 0), (0, -3), (0, 3)] {
            assert!(at(cx + dx, cy + dy) < peak, "({tx}, {ty}) is not a maximum");
        }
    }
    // And far from the points the crop is the dark background.
    assert!(pixels[0] < 0.0 && pixels[size * size - 1] < 0.0);
}

#[test]
fn a_face_box_crops_exactly() {
    // Random pixels; a 30 x 20 box at (50, 10) with no margin is the 30 x 30 square
    // around its centre: x 50..80, y 5..35, here at the network's size (no resizing).
    let mut state = 12345u32;
    let image = GrayImage::from_fn(100, 60, |_, _| {
        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
        Luma([(state >> 24) as u8])
    });
    let path = temp("box.png");
    image.save(&path).unwrap();
    let region = FaceRegion::Box {
        x: 50.0,
        y: 10.0,
        w: 30.0,
        h: 20.0,
    };
    let got = load_face(&path, &region, &gray(30)).unwrap();
    let mut want: Vec<f32> = (5..35)
        .flat_map(|y| (50..80).map(move |x| (x, y)))
        .map(|(x, y)| image.get_pixel(x, y).0[0] as f32 / 255.0)
        .collect();
    standardize(&mut want);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{g} against {w}");
    }
    // With a margin of 0.5 the square doubles: 60 x 60, moved inside the 60-pixel height.
    assert_eq!(
        align::box_square([50.0, 10.0, 30.0, 20.0], 0.5, 100, 60),
        Ok((35, 0, 60))
    );
}

#[test]
fn the_facenet_crop_cuts_the_box_even_where_a_row_has_landmarks() {
    let mut state = 777u32;
    let image = GrayImage::from_fn(120, 100, |_, _| {
        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
        Luma([(state >> 24) as u8])
    });
    let path = temp("both.png");
    image.save(&path).unwrap();
    let face_box = [30.0, 20.0, 40.0, 50.0];
    let points = align::template(112).map(|[x, y]| [x * 0.5 + 25.0, y * 0.5 + 20.0]);
    let both = FaceRegion::LandmarksAndBox { points, face_box };
    let [x, y, w, h] = face_box;
    let facenet = Preprocess {
        box_crop: align::BoxCrop::Facenet { margin: 10 },
        ..gray(40)
    };
    // Under FaceNet's crop: the box, as extract_face cuts it.
    let got = load_face(&path, &both, &facenet).unwrap();
    let boxed = load_face(&path, &FaceRegion::Box { x, y, w, h }, &facenet).unwrap();
    assert_eq!(got, boxed);
    // The rectangle itself: 40 x 50 widened by 10 * 40 / 30 and 10 * 50 / 30, truncated.
    assert_eq!(
        align::facenet_box(face_box, 10, 40, 120, 100),
        Ok((23, 11, 53, 67))
    );
    // Otherwise the landmarks align it, as a row with landmarks alone.
    let aligned = load_face(&path, &both, &gray(40)).unwrap();
    let landmarks = load_face(&path, &FaceRegion::Landmarks(points), &gray(40)).unwrap();
    assert_eq!(aligned, landmarks);
    assert_ne!(aligned, got);
}

#[test]
fn rgb_keeps_three_channels_and_gray_sources_repeat() {
    // Left half red, right half blue: channel-major planes, standardised jointly.
    let image = RgbImage::from_fn(8, 8, |x, _| {
        if x < 4 {
            Rgb([200, 0, 0])
        } else {
            Rgb([0, 0, 200])
        }
    });
    let path = temp("rgb.png");
    image.save(&path).unwrap();
    let how = Preprocess {
        size: 8,
        color: Color::Rgb,
        crop_margin: 0.2,
        standardization: Default::default(),
        box_crop: Default::default(),
    };
    let pixels = load_face(&path, &FaceRegion::Centre, &how).unwrap();
    assert_eq!(pixels.len(), 3 * 64);
    let (red, green, blue) = (&pixels[..64], &pixels[64..128], &pixels[128..]);
    assert!(red[0] > 0.0 && red[7] < 0.0, "red on the left");
    assert!(blue[0] < 0.0 && blue[7] > 0.0, "blue on the right");
    assert!(
        green
            .iter()
            .all(|&g| (g - green[0]).abs() < 1e-6 && g < 0.0),
        "no green"
    );
    let mean: f32 = pixels.iter().sum::<f32>() / pixels.len() as f32;
    assert!(
        mean.abs() < 1e-5,
        "one mean over the three channels: {mean}"
    );
    // A grayscale file read as RGB: three equal planes.
    let g = GrayImage::from_fn(8, 8, |x, y| Luma([(x * 30 + y) as u8]));
    let gpath = temp("gray.png");
    g.save(&gpath).unwrap();
    let planes = load_face(&gpath, &FaceRegion::Centre, &how).unwrap();
    assert!(planes[..64] == planes[64..128] && planes[..64] == planes[128..]);
}

/// A manifest in a fresh folder with one image, `extra` columns in the header and `row`
/// after the image's path, subject and expression.
fn manifest(name: &str, extra: &str, row: &str) -> PathBuf {
    let dir = temp(name);
    std::fs::create_dir_all(&dir).unwrap();
    GrayImage::from_pixel(64, 48, Luma([90]))
        .save(dir.join("a.png"))
        .unwrap();
    let path = dir.join("manifest.csv");
    std::fs::write(
        &path,
        format!("path,subject,expression{extra}\na.png,s1,neutral{row}\na.png,s2,happiness{row}\n"),
    )
    .unwrap();
    path
}

fn load_error(path: &Path) -> String {
    let dataset = Format::Manifest
        .load(path, 32, false)
        .unwrap_or_else(|e| panic!("{e}"));
    dataset
        .pixels(0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn malformed_coordinates_are_errors_naming_the_file_and_line() {
    let boxes = ",x,y,w,h";
    let marks = ",lex,ley,rex,rey,nx,ny,lmx,lmy,rmx,rmy";
    for (name, extra, row, needle) in [
        ("not-a-number", boxes, ",1,2,abc,4", "w is \"abc\""),
        ("nan", boxes, ",1,2,NaN,4", "not a finite number"),
        ("zero-box", boxes, ",1,2,0,4", "must be above 0"),
        (
            "partial-landmarks",
            marks,
            ",10,10,20,10,15,15,,,20,25",
            "lmx is empty",
        ),
        (
            "partial-header",
            ",x,y,w",
            ",1,2,3",
            "only some of the columns x,y,w,h",
        ),
        ("unknown-column", ",nose", ",1", "unknown column \"nose\""),
    ] {
        let path = manifest(name, extra, row);
        let e = match Format::Manifest.load(&path, 32, false) {
            Ok(_) => panic!("{name} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("manifest.csv:") && e.contains(needle),
            "{name}: {e}"
        );
    }
    // Coordinates outside the image: found when the image is read, naming the row.
    let outside = manifest("outside", boxes, ",50,40,30,20");
    let e = load_error(&outside);
    assert!(
        e.contains("leaves the 64 x 48 image") && e.contains("manifest.csv:2"),
        "{e}"
    );
    let outside = manifest("outside-marks", marks, ",10,10,20,10,15,15,10,30,20,90");
    let e = load_error(&outside);
    assert!(
        e.contains("right mouth corner") && e.contains("manifest.csv:2"),
        "{e}"
    );
    // With --skip-bad a bad row is skipped with a warning; a row with no box is fine.
    let path = manifest("skip", boxes, ",1,2,abc,4");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}a.png,s3,fear,,,,\n")).unwrap();
    let dataset = Format::Manifest.load(&path, 32, true).unwrap();
    assert_eq!(dataset.samples.len(), 1);
    assert_eq!(dataset.samples[0].region, FaceRegion::Centre);
    assert_eq!(dataset.skipped.len(), 2, "{:?}", dataset.skipped);
}
