//! PNG charts of a run: the two task losses and the two task weights over steps (the
//! paper's Figure 2), accuracies per epoch, the FER confusion matrix, and a
//! cross-validation's figures per fold.

use std::path::Path;

use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in, so this cannot fail on a user's machine.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

const SIZE: (u32, u32) = (900, 500);
const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 215, 0),
];

fn save_rgb(path: &Path, buffer: Vec<u8>, (w, h): (u32, u32)) -> Result<(), String> {
    let image = image::RgbImage::from_raw(w, h, buffer).ok_or("plot buffer size mismatch")?;
    image
        .save(path)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// The drawing area of a chart being rendered.
type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
/// What drawing on an [`Area`] may fail with.
type DrawError<'a> = Box<dyn std::error::Error + 'a>;

/// Renders `draw` on a white `size` canvas and writes it to `path` as a PNG.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl for<'a> FnOnce(&Area<'a>) -> Result<(), DrawError<'a>>,
) -> Result<(), String> {
    register_font();
    let mut buffer = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        let result = root
            .fill(&WHITE)
            .map_err(DrawError::from)
            .and_then(|_| draw(&root))
            .and_then(|_| root.present().map_err(DrawError::from));
        result.map_err(|e| format!("{}: cannot draw: {e}", path.display()))?;
    }
    save_rgb(path, buffer, size)
}

/// The series' names and colours, boxed in the chart's corner.
fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), DrawError<'a>> {
    draw_legend_at(chart, SeriesLabelPosition::UpperRight)
}

fn draw_legend_at<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawError<'a>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Points with ±sd (mean, sd) of one series; None where a category has none.
pub type MeanSd = Option<(f64, f64)>;

/// A line chart of named series of (x, y) points.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let points = series.iter().flat_map(|(_, s)| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    render(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
        // The x axes count (steps, epochs): whole-number ticks only.
        let whole = |x: &f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(((x1 - x0) as usize + 1).min(10))
            .x_label_formatter(&whole)
            .label_style(("sans-serif", 14))
            .draw()?;
        for (k, (name, data)) in series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart)
    })
}

/// The confusion matrix as a heat map with counts; rows are true classes.
pub fn confusion_matrix(
    path: &Path,
    classes: &[String],
    counts: &[Vec<u32>],
) -> Result<(), String> {
    let n = classes.len().max(1);
    let cell = 70u32;
    let (w, h) = (160 + cell * n as u32 + 140, 90 + cell * n as u32 + 110);
    let shade_of = |share: f64| {
        let shade = (255.0 * (1.0 - share)) as u8;
        RGBColor(shade, shade, 255)
    };
    render(path, (w, h), |root| {
        root.draw(&Text::new(
            "FER confusion matrix, test fold (rows: true, columns: predicted)",
            (10, 10),
            ("sans-serif", 18),
        ))?;
        // The colour scale: a cell's share of its row.
        let (bar_x, bar_top, bar_height) = (
            160 + (cell * n as u32) as i32 + 30,
            50,
            (cell * n as u32) as i32,
        );
        let slices = 20;
        for k in 0..slices {
            let y = bar_top + bar_height * k / slices;
            let share = 1.0 - (k as f64 + 0.5) / slices as f64;
            root.draw(&Rectangle::new(
                [
                    (bar_x, y),
                    (bar_x + 20, bar_top + bar_height * (k + 1) / slices),
                ],
                shade_of(share).filled(),
            ))?;
        }
        root.draw(&Rectangle::new(
            [(bar_x, bar_top), (bar_x + 20, bar_top + bar_height)],
            BLACK.stroke_width(1),
        ))?;
        for (label, y) in [("100%", bar_top), ("0%", bar_top + bar_height - 14)] {
            root.draw(&Text::new(label, (bar_x + 26, y), ("sans-serif", 14)))?;
        }
        root.draw(&Text::new(
            "of the row",
            (bar_x - 10, bar_top + bar_height + 8),
            ("sans-serif", 14),
        ))?;
        for (r, row) in counts.iter().enumerate() {
            let total = row.iter().sum::<u32>().max(1) as f64;
            for (c, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let (x, y) = (160 + c as i32 * cell as i32, 50 + r as i32 * cell as i32);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    shade_of(share).filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    BLACK.stroke_width(1),
                ))?;
                let color = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    count.to_string(),
                    (x + 8, y + cell as i32 / 2 - 8),
                    ("sans-serif", 16).into_font().color(&color),
                ))?;
            }
            root.draw(&Text::new(
                classes[r].clone(),
                (10, 50 + r as i32 * cell as i32 + cell as i32 / 2 - 8),
                ("sans-serif", 15),
            ))?;
        }
        for (c, name) in classes.iter().enumerate() {
            let style = ("sans-serif", 15)
                .into_font()
                .transform(FontTransform::Rotate90);
            root.draw(&Text::new(
                name.clone(),
                (
                    160 + c as i32 * cell as i32 + cell as i32 / 2,
                    55 + n as i32 * cell as i32,
                ),
                style,
            ))?;
        }
        Ok(())
    })
}

/// Points with ±sd bars: one group per category (x), one colour per series; `None` points
/// (a metric a category lacks) are left out.
pub fn error_bars(
    path: &Path,
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<MeanSd>)],
) -> Result<(), String> {
    let values = series
        .iter()
        .flat_map(|(_, s)| s.iter().flatten())
        .flat_map(|&(m, sd)| [m - sd, m + sd])
        .filter(|v| v.is_finite());
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        (y0, y1) = (y0.min(v), y1.max(v));
    }
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    // Room below the points for the legend, so it covers none of them.
    let legend_room = (y1 - y0).max(1e-3) * 0.35;
    let n = categories.len().max(1) as f64;
    render(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..(n - 0.5), (y0 - pad - legend_room)..(y1 + pad))?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels(categories.len() * 2 + 1)
            .x_label_formatter(&label)
            .disable_x_mesh()
            .label_style(("sans-serif", 14))
            .draw()?;
        let width = 0.6 / series.len().max(1) as f64;
        for (k, (name, points)) in series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let offset = (k as f64 - (series.len() as f64 - 1.0) / 2.0) * width;
            let placed: Vec<(f64, f64, f64)> = points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|(m, sd)| (i as f64 + offset, m, sd)))
                .collect();
            chart.draw_series(placed.iter().map(|&(x, m, sd)| {
                PathElement::new(vec![(x, m - sd), (x, m + sd)], color.stroke_width(2))
            }))?;
            chart
                .draw_series(
                    placed
                        .iter()
                        .map(|&(x, m, _)| Circle::new((x, m), 4, color.filled())),
                )?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        draw_legend_at(&mut chart, SeriesLabelPosition::LowerRight)
    })
}
