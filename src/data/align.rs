//! Where the face is in an image, and how it is cut out for the network.
//!
//! - Five landmarks (left eye, right eye, nose tip, left and right mouth corner, "left" as
//!   seen in the image, in pixels with pixel centres at whole numbers, as MTCNN-style
//!   detectors give them): the image is warped by the similarity transform (scale,
//!   rotation, shift) that best maps the five points, in least squares, onto a canonical
//!   template, the common 112 x 112 five-point template scaled to the network's input.
//!   Bilinear sampling; outside the image the nearest edge pixel is repeated.
//! - A face box (x, y, w, h in pixels): a square around the box's centre, of side the box's
//!   larger side times 1 + 2 x margin (`--crop-margin`, 0.2 by default: a fifth of the side
//!   added on each side), moved inside the image where it overhangs (and shrunk to the
//!   image's shorter side if larger), then resized.
//! - Neither: the centre square of the image.

use serde::{Deserialize, Serialize};

/// Where the face is in an image.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum FaceRegion {
    /// The centre square.
    #[default]
    Centre,
    /// A face box: left, top, width, height in pixels.
    Box { x: f32, y: f32, w: f32, h: f32 },
    /// Left eye, right eye, nose tip, left and right mouth corner, (x, y) in pixels.
    Landmarks([[f32; 2]; 5]),
}

/// The five-point template in a 112 x 112 crop (pixels), as MTCNN- and ArcFace-style
/// pipelines align faces.
pub const TEMPLATE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The template scaled to a `size` x `size` crop.
pub fn template(size: usize) -> [[f32; 2]; 5] {
    let k = size as f32 / 112.0;
    TEMPLATE_112.map(|[x, y]| [x * k, y * k])
}

/// q = [a -b; b a] p + t: scale, rotation and shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity taking each of `from` onto the matching `to` (None when
    /// the `from` points coincide).
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len()) as f64;
        let mean = |pts: &[[f32; 2]]| {
            let (sx, sy) = pts
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
            (sx / n, sy / n)
        };
        let ((px, py), (qx, qy)) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (ux, uy) = (p[0] as f64 - px, p[1] as f64 - py);
            let (vx, vy) = (q[0] as f64 - qx, q[1] as f64 - qy);
            dot += ux * vx + uy * vy;
            cross += ux * vy - uy * vx;
            norm += ux * ux + uy * uy;
        }
        if norm < 1e-9 {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (qx - (a * px - b * py)) as f32,
            ty: (qy - (b * px + a * py)) as f32,
        })
    }

    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The point that maps onto `q`.
    pub fn invert(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let (u, v) = (x - self.tx, y - self.ty);
        let d = self.a * self.a + self.b * self.b;
        [
            (self.a * u + self.b * v) / d,
            (-self.b * u + self.a * v) / d,
        ]
    }
}

/// A `size` x `size` crop of `plane` (`width` x `height`) through `s` (image to crop):
/// each crop pixel samples the image bilinearly at the point `s` maps onto it, the
/// nearest edge pixel repeated outside the image.
pub fn warp(plane: &[f32], width: usize, height: usize, s: &Similarity, size: usize) -> Vec<f32> {
    let at = |x: isize, y: isize| {
        plane[y.clamp(0, height as isize - 1) as usize * width
            + x.clamp(0, width as isize - 1) as usize]
    };
    let mut out = Vec::with_capacity(size * size);
    for v in 0..size {
        for u in 0..size {
            let [x, y] = s.invert([u as f32, v as f32]);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// The square (left, top, side in whole pixels) cut for a face box in a `width` x
/// `height` image, or why the box cannot be used.
pub fn box_square(
    [x, y, w, h]: [f32; 4],
    margin: f32,
    width: usize,
    height: usize,
) -> Result<(u32, u32, u32), String> {
    let (fw, fh) = (width as f32, height as f32);
    if ![x, y, w, h].iter().all(|v| v.is_finite()) {
        return Err("the face box has a coordinate that is not a number".into());
    }
    if !(w > 0.0 && h > 0.0) {
        return Err(format!("the face box is {w} x {h}: it must have a size"));
    }
    if x < 0.0 || y < 0.0 || x + w > fw + 0.5 || y + h > fh + 0.5 {
        return Err(format!(
            "the face box ({x}, {y}, {w} x {h}) leaves the {width} x {height} image"
        ));
    }
    let side = (w.max(h) * (1.0 + 2.0 * margin))
        .min(fw.min(fh))
        .round()
        .max(1.0);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let left = (cx - side / 2.0).round().clamp(0.0, fw - side);
    let top = (cy - side / 2.0).round().clamp(0.0, fh - side);
    Ok((left as u32, top as u32, side as u32))
}

/// Checks five landmarks against a `width` x `height` image.
pub fn check_landmarks(points: &[[f32; 2]; 5], width: usize, height: usize) -> Result<(), String> {
    let names = [
        "left eye",
        "right eye",
        "nose",
        "left mouth corner",
        "right mouth corner",
    ];
    for (name, [x, y]) in names.iter().zip(points) {
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("the {name} landmark is not a number"));
        }
        if *x < 0.0 || *y < 0.0 || *x > width as f32 - 0.5 || *y > height as f32 - 0.5 {
            return Err(format!(
                "the {name} landmark ({x}, {y}) is outside the {width} x {height} image"
            ));
        }
    }
    if Similarity::fit(points, &TEMPLATE_112).is_none() {
        return Err("the five landmarks coincide".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_similarity_and_inverts() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -2.0,
        };
        let from = [
            [10.0, 20.0],
            [40.0, 22.0],
            [25.0, 35.0],
            [12.0, 50.0],
            [38.0, 49.0],
        ];
        let to = from.map(|p| truth.apply(p));
        let fit = Similarity::fit(&from, &to).unwrap();
        for (got, want) in [(fit.a, 0.8), (fit.b, 0.3), (fit.tx, 5.0), (fit.ty, -2.0)] {
            assert!((got - want).abs() < 1e-4, "{fit:?}");
        }
        let p = [17.0, 31.0];
        let back = fit.invert(fit.apply(p));
        assert!((back[0] - p[0]).abs() < 1e-4 && (back[1] - p[1]).abs() < 1e-4);
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &to).is_none());
    }

    #[test]
    fn a_box_becomes_a_square_with_its_margin_inside_the_image() {
        // 40 x 20 box centred at (60, 50): side 40 * 1.4 = 56, from (32, 22).
        assert_eq!(
            box_square([40.0, 40.0, 40.0, 20.0], 0.2, 200, 100),
            Ok((32, 22, 56))
        );
        // Overhanging the left edge: moved inside.
        assert_eq!(
            box_square([0.0, 10.0, 30.0, 30.0], 0.5, 100, 100),
            Ok((0, 0, 60))
        );
        // Larger than the image: the shorter side, still around the box's centre (45, 30).
        assert_eq!(
            box_square([0.0, 0.0, 90.0, 60.0], 0.5, 90, 60),
            Ok((15, 0, 60))
        );
        assert!(box_square([0.0, 0.0, 0.0, 10.0], 0.2, 90, 60).is_err());
        assert!(box_square([80.0, 0.0, 20.0, 10.0], 0.2, 90, 60).is_err());
        assert!(box_square([f32::NAN, 0.0, 20.0, 10.0], 0.2, 90, 60).is_err());
    }
}
