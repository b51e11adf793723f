//! Small charts (scatter and line, linear or log axes) rendered to in-memory SVG text or PNG bytes with
//! `plotters`. The caller owns file writing (atomic, see the parent module).
//!
//! Text is drawn with the embedded Noto Sans font registered under `"sans-serif"` (DESIGN.md §7), so no
//! system font library is needed and output is byte-identical across runs and machines.
//!
//! Robustness rules: points with a NaN/infinite coordinate, or a non-positive coordinate on a log axis,
//! are skipped; axis ranges come from the remaining points with a 5% margin (of the log span on log axes);
//! a chart with nothing to draw still renders its frame, title and axis labels. Nothing here panics on data.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use image::ImageEncoder;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use thiserror::Error;

/// Smallest accepted canvas side, in pixels (below it the label areas leave no plot area).
pub const MIN_SIDE: u32 = 160;
/// Largest accepted canvas side, in pixels (bounds the RGB buffer at 192 MiB).
pub const MAX_SIDE: u32 = 8192;

#[derive(Error, Debug)]
pub enum PlotError {
    #[error("plot size {width}x{height} out of range ({MIN_SIDE}..={MAX_SIDE} pixels per side)")]
    Size { width: u32, height: u32 },
    #[error("cannot load the embedded plot font")]
    Font,
    #[error("cannot draw chart: {0}")]
    Draw(String),
    #[error("cannot encode PNG via temporary file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeriesStyle {
    /// One filled marker per point.
    #[default]
    Points,
    /// A polyline through the points in the given order.
    Line,
    /// A line for each consecutive pair of points (a range per item; pairs with an invalid end are
    /// dropped).
    Segments,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: SeriesStyle,
    /// Index into the palette; `None`: the series' position (the palette's second ten are the first
    /// ten's light tints).
    pub palette: Option<usize>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, style: SeriesStyle) -> Self {
        Series { label: label.into(), points, style, palette: None }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Draw the `y = x` reference line (measured vs fitted; not drawn when no point is drawable). When both
    /// axes have the same scale they also share one range, so the line runs corner to corner and distances
    /// from it read the same on both axes.
    pub diagonal: bool,
}

/// Fixed palette (Tableau 20: the ten Tableau 10 colours, then their light tints), indexed by series
/// position; wraps after twenty series.
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// Colour of the series at `index`.
pub fn series_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

const FONT: &str = "sans-serif";
const DIAGONAL_COLOR: RGBColor = RGBColor(90, 90, 90);

fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    let ok = |s: u32| (MIN_SIDE..=MAX_SIDE).contains(&s);
    if ok(width) && ok(height) {
        Ok(())
    } else {
        Err(PlotError::Size { width, height })
    }
}

/// Render `chart` as an SVG document.
pub fn render_svg(chart: &Chart, width: u32, height: u32) -> Result<String, PlotError> {
    check_size(width, height)?;
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw_chart(&root, chart, (width, height))?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Render `chart` as PNG bytes (8-bit RGB).
///
/// plotters re-exports no PNG encoder, and pdsim does not depend on `image` directly, so the encoding goes
/// through `BitMapBackend`'s own file output in a private temporary directory that is removed afterwards.
pub fn render_png(chart: &Chart, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    check_size(width, height)?;
    ensure_font()?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw_chart(&root, chart, (width, height))?;
        root.present().map_err(draw_err)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, image::ColorType::Rgb8)
        .map_err(|e| PlotError::Draw(e.to_string()))?;
    Ok(png)
}

/// Log-log scatter of `(measured, fitted)` pairs with the `y = x` line; axes "measured (unit)" and
/// "fitted (unit)". `groups`, when it has one name per point, splits the points into one series per
/// distinct name (in order of first appearance, each with its own colour and a legend entry); otherwise
/// (e.g. `&[]`) all points form one series.
pub fn scatter_measured_vs_fitted(title: &str, unit: &str, points: &[(f64, f64)], groups: &[&str]) -> Chart {
    let mut series: Vec<Series> = Vec::new();
    if groups.len() == points.len() && !points.is_empty() {
        for (&p, &g) in points.iter().zip(groups) {
            match series.iter_mut().find(|s| s.label == g) {
                Some(s) => s.points.push(p),
                None => series.push(Series::new(g, vec![p], SeriesStyle::Points)),
            }
        }
    } else {
        series.push(Series::new("points", points.to_vec(), SeriesStyle::Points));
    }
    let axis = |name: &str| if unit.is_empty() { name.to_string() } else { format!("{name} ({unit})") };
    Chart {
        title: title.to_string(),
        x_label: axis("measured"),
        y_label: axis("fitted"),
        log_x: true,
        log_y: true,
        series,
        diagonal: true,
    }
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Larger magnitudes count as infinite: keeps every range span (and its margin) finite.
const MAX_ABS: f64 = 1e300;

/// Map a data value into axis space (`log10` on log axes); `None` when it cannot be shown.
fn to_axis(v: f64, log: bool) -> Option<f64> {
    if v.is_nan() || v.abs() > MAX_ABS {
        None
    } else if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

fn from_axis(v: f64, log: bool) -> f64 {
    if log {
        10f64.powf(v)
    } else {
        v
    }
}

/// `[lo, hi]` in axis space with a 5% margin; a default range when there is no data.
fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return 0.0..1.0; // linear 0..1, or log 1..10
    }
    let span = hi - lo;
    let pad = if !span.is_finite() {
        0.0
    } else if span > 0.0 && span >= lo.abs().max(hi.abs()) * 1e-12 {
        0.05 * span
    } else if log {
        0.5
    } else if lo != 0.0 {
        0.05 * lo.abs()
    } else {
        1.0
    };
    let lo = (lo - pad).max(-f64::MAX);
    let hi = (hi + pad).min(f64::MAX);
    lo..hi
}

/// Cap on ticks / minor lines computed per axis, against pathological ranges.
const MAX_TICKS: f64 = 200.0;

/// Multiples of `step` inside `[lo, hi]` (computed as `k * step`, so no drift).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && step.is_finite() && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    if !(first.is_finite() && last.is_finite()) || last - first > MAX_TICKS {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut k = first;
    while k <= last {
        let v = k * step;
        out.push(if v == 0.0 { 0.0 } else { v });
        k += 1.0;
    }
    out
}

/// (labelled ticks, minor grid lines) for a linear range, aiming at about `target` labels.
fn linear_ticks(lo: f64, hi: f64, target: f64) -> (Vec<f64>, Vec<f64>) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let (lead, minor_div) = if norm < 1.5 {
        (1.0, 5.0)
    } else if norm < 3.0 {
        (2.0, 4.0)
    } else if norm < 7.0 {
        (5.0, 5.0)
    } else {
        (10.0, 5.0)
    };
    let step = lead * mag;
    (multiples(lo, hi, step), multiples(lo, hi, step / minor_div))
}

/// (labelled ticks, minor grid lines) in log10 space for the range `[lo, hi]` (log10 units).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let in_range = |v: f64| v >= lo && v <= hi;
    if span > 2.5 {
        // Whole decades, thinned to at most ~8 labels; skipped decades (or, when every decade is
        // labelled and there are few, 2..9 x 10^k) become minor lines.
        let every = (span / 8.0).ceil();
        let bold = multiples(lo, hi, every);
        let light = if every > 1.0 {
            multiples(lo, hi, 1.0)
        } else {
            mantissas(lo, hi, &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        };
        (bold, light)
    } else if span > 0.7 {
        (mantissas(lo, hi, &[1.0, 2.0, 5.0]), mantissas(lo, hi, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]))
    } else {
        // Less than a factor of ~5: plain linear ticks in value space, placed on the log axis.
        let (bold, light) = linear_ticks(10f64.powf(lo), 10f64.powf(hi), 5.0);
        let to_log =
            |v: Vec<f64>| v.into_iter().filter(|&x| x > 0.0).map(f64::log10).filter(|&x| in_range(x)).collect();
        (to_log(bold), to_log(light))
    }
}

/// `log10(m * 10^k)` for each mantissa `m` and decade `k`, inside `[lo, hi]` (log10 units, span <= 8).
fn mantissas(lo: f64, hi: f64, ms: &[f64]) -> Vec<f64> {
    multiples(lo.floor(), hi.ceil(), 1.0)
        .into_iter()
        .flat_map(|d| ms.iter().map(move |m| d + m.log10()))
        .filter(|&v| v >= lo && v <= hi)
        .collect()
}

fn axis_ticks(range: &Range<f64>, log: bool, target: f64) -> (Vec<f64>, Vec<f64>) {
    if log {
        log_ticks(range.start, range.end)
    } else {
        linear_ticks(range.start, range.end, target)
    }
}

/// Compact tick label: plain decimals for moderate magnitudes, `1.5e6` style otherwise.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v == 0.0 {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.3e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = trim_zeros(mant);
        return format!("{mant}e{exp}");
    }
    let decimals = (5 - a.log10().floor() as i32).clamp(0, 8) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Which corner the legend goes in: the one with the fewest points near it (axis-space coordinates).
fn legend_corner(points: &[(f64, f64)], xr: &Range<f64>, yr: &Range<f64>) -> SeriesLabelPosition {
    let frac = |v: f64, r: &Range<f64>| if r.end > r.start { (v - r.start) / (r.end - r.start) } else { 0.5 };
    let mut counts = [0usize; 4]; // upper right, upper left, lower right, lower left
    for &(x, y) in points {
        let (fx, fy) = (frac(x, xr), frac(y, yr));
        let (left, right, low, up) = (fx < 0.4, fx > 0.6, fy < 0.35, fy > 0.65);
        if up && right {
            counts[0] += 1;
        }
        if up && left {
            counts[1] += 1;
        }
        if low && right {
            counts[2] += 1;
        }
        if low && left {
            counts[3] += 1;
        }
    }
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

/// The `y = x` line in axis space, clipped to the plot area; empty when it does not cross it.
fn diagonal_points(chart: &Chart, xr: &Range<f64>, yr: &Range<f64>) -> Vec<(f64, f64)> {
    if chart.log_x == chart.log_y {
        let (lo, hi) = (xr.start.max(yr.start), xr.end.min(yr.end));
        return if lo < hi { vec![(lo, lo), (hi, hi)] } else { Vec::new() };
    }
    // Mixed scales: the line is curved, sample it along x.
    const N: usize = 256;
    (0..=N)
        .filter_map(|i| {
            let ax = xr.start + (xr.end - xr.start) * i as f64 / N as f64;
            let ay = to_axis(from_axis(ax, chart.log_x), chart.log_y)?;
            (ay >= yr.start && ay <= yr.end).then_some((ax, ay))
        })
        .collect()
}

/// A linear `f64` axis (in axis space) with precomputed labelled ticks and minor grid lines. plotters'
/// own `WithKeyPoints` does not forward the value formatter that `configure_mesh` requires.
struct TickedAxis {
    inner: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    (width, height): (u32, u32),
) -> Result<(), PlotError> {
    // Series in axis space, invalid points dropped.
    let series: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            let axis = |&(x, y): &(f64, f64)| Some((to_axis(x, chart.log_x)?, to_axis(y, chart.log_y)?));
            match s.style {
                SeriesStyle::Segments => {
                    s.points.chunks_exact(2).filter_map(|c| Some([axis(&c[0])?, axis(&c[1])?])).flatten().collect()
                }
                _ => s.points.iter().filter_map(axis).collect(),
            }
        })
        .collect();
    let all = || series.iter().flatten();
    let (mut xr, mut yr) = if chart.diagonal && chart.log_x == chart.log_y {
        let r = padded_range(all().flat_map(|&(x, y)| [x, y]), chart.log_x);
        (r.clone(), r)
    } else {
        (padded_range(all().map(|p| p.0), chart.log_x), padded_range(all().map(|p| p.1), chart.log_y))
    };
    for r in [&mut xr, &mut yr] {
        if !(r.end > r.start && (r.end - r.start).is_finite()) {
            *r = 0.0..1.0;
        }
    }

    let base = (f64::from(width.min(height)) / 40.0).clamp(11.0, 24.0);
    let label_font = (FONT, base).into_font();
    let desc_font = (FONT, base * 1.1).into_font();
    let title_font = (FONT, base * 1.45).into_font();

    root.fill(&WHITE).map_err(draw_err)?;
    let (x_ticks, x_minor) = axis_ticks(&xr, chart.log_x, (f64::from(width) / (base * 9.0)).clamp(3.0, 10.0));
    let (y_ticks, y_minor) = axis_ticks(&yr, chart.log_y, (f64::from(height) / (base * 5.0)).clamp(3.0, 10.0));
    let x_coord = TickedAxis { inner: xr.clone().into(), bold: x_ticks, light: x_minor };
    let y_coord = TickedAxis { inner: yr.clone().into(), bold: y_ticks, light: y_minor };

    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, title_font)
        .margin(base.round() as u32)
        .x_label_area_size((base * 3.2).round() as u32)
        .y_label_area_size((base * 5.5).round() as u32)
        .build_cartesian_2d(x_coord, y_coord)
        .map_err(draw_err)?;

    let (log_x, log_y) = (chart.log_x, chart.log_y);
    let fmt_x = move |v: &f64| format_tick(from_axis(*v, log_x));
    let fmt_y = move |v: &f64| format_tick(from_axis(*v, log_y));
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(label_font.clone())
        .axis_desc_style(desc_font)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(draw_err)?;

    let legend = chart.series.len() > 1;
    if chart.diagonal && all().next().is_some() {
        let pts = diagonal_points(chart, &xr, &yr);
        if pts.len() >= 2 {
            let style = DIAGONAL_COLOR.stroke_width(1);
            let ann = ctx.draw_series(DashedLineSeries::new(pts, 6, 4, style)).map_err(draw_err)?;
            if legend {
                ann.label("y = x").legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
        }
    }
    let radius = (base / 5.0).round().max(2.0) as i32;
    for (i, (spec, pts)) in chart.series.iter().zip(&series).enumerate() {
        let color = series_color(spec.palette.unwrap_or(i));
        let ann = match spec.style {
            SeriesStyle::Segments => ctx
                .draw_series(pts.chunks_exact(2).map(|c| PathElement::new(vec![c[0], c[1]], color.stroke_width(2))))
                .map_err(draw_err)?,
            SeriesStyle::Points => {
                ctx.draw_series(pts.iter().map(|&p| Circle::new(p, radius, color.filled()))).map_err(draw_err)?
            }
            SeriesStyle::Line => {
                ctx.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))).map_err(draw_err)?
            }
        };
        if legend {
            let style = spec.style;
            ann.label(spec.label.as_str()).legend(move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                match style {
                    SeriesStyle::Points => Circle::new((x + 9, y), radius, color.filled()).into_dyn(),
                    SeriesStyle::Line => PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)).into_dyn(),
                    SeriesStyle::Segments => {
                        PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], color.stroke_width(2)).into_dyn()
                    }
                }
            });
        }
    }
    if legend {
        let flat: Vec<(f64, f64)> = all().copied().collect();
        ctx.configure_series_labels()
            .position(legend_corner(&flat, &xr, &yr))
            .label_font(label_font)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .margin(base.round() as u32)
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_chart() -> Chart {
        let measured = [0.8, 1.5, 3.2, 7.9, 15.0, 33.0, 70.0, 140.0, 310.0, 650.0];
        let fitted = [0.9, 1.4, 3.5, 7.1, 16.2, 30.5, 75.0, 128.0, 330.0, 610.0];
        let points: Vec<(f64, f64)> = measured.iter().copied().zip(fitted).collect();
        let groups =
            ["prefill", "decode", "prefill", "decode", "prefill", "decode", "prefill", "decode", "prefill", "decode"];
        scatter_measured_vs_fitted("Iteration time: measured vs fitted", "ms", &points, &groups)
    }

    fn line_chart() -> Chart {
        Chart {
            title: "TTFT p99 vs load".into(),
            x_label: "request rate (req/s)".into(),
            y_label: "TTFT p99 (ms)".into(),
            series: vec![
                Series::new(
                    "1P1D",
                    (1..=10).map(|i| (f64::from(i), 40.0 + f64::from(i * i) * 3.0)).collect(),
                    SeriesStyle::Line,
                ),
                Series::new(
                    "2P2D",
                    (1..=10).map(|i| (f64::from(i), 35.0 + f64::from(i) * 4.0)).collect(),
                    SeriesStyle::Line,
                ),
                Series::new("measured", vec![(2.0, 55.0), (5.0, 120.0), (8.0, 230.0)], SeriesStyle::Points),
            ],
            ..Chart::default()
        }
    }

    fn png_size(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&png[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        assert_eq!(png[24], 8, "bit depth");
        assert_eq!(png[25], 2, "colour type RGB");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        (be(&png[16..20]), be(&png[20..24]))
    }

    #[test]
    fn svg_renders_with_title_labels_and_legend() {
        let svg = render_svg(&sample_chart(), 800, 600).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in ["Iteration time: measured vs fitted", "measured (ms)", "fitted (ms)", "prefill", "decode", "y = x"]
        {
            assert!(svg.contains(text), "missing {text:?}");
        }
        assert!(svg.contains("<circle"));
    }

    #[test]
    fn png_renders_at_requested_size() {
        let png = render_png(&sample_chart(), 640, 480).unwrap();
        assert_eq!(png_size(&png), (640, 480));
        let png = render_png(&line_chart(), 1000, 300).unwrap();
        assert_eq!(png_size(&png), (1000, 300));
    }

    #[test]
    fn rendering_is_deterministic() {
        for chart in [sample_chart(), line_chart()] {
            assert_eq!(render_svg(&chart, 800, 600).unwrap(), render_svg(&chart, 800, 600).unwrap());
            assert_eq!(render_png(&chart, 800, 600).unwrap(), render_png(&chart, 800, 600).unwrap());
        }
    }

    #[test]
    fn bad_points_are_skipped_not_fatal() {
        let points = vec![
            (0.0, 1.0),
            (-3.0, 2.0),
            (5.0, -1.0),
            (f64::NAN, 3.0),
            (4.0, f64::INFINITY),
            (10.0, 12.0),
            (f64::NEG_INFINITY, 1.0),
        ];
        let mut chart = scatter_measured_vs_fitted("bad", "", &points, &[]);
        assert_eq!(chart.x_label, "measured");
        render_svg(&chart, 400, 300).unwrap();
        render_png(&chart, 400, 300).unwrap();
        // Only invalid points on a log axis: an empty frame.
        chart.series[0].points = vec![(0.0, 0.0), (-1.0, -1.0)];
        render_png(&chart, 400, 300).unwrap();
        // Mixed scales, line style, extreme magnitudes.
        chart.log_y = false;
        chart.series.push(Series::new(
            "x",
            vec![(1e-300, f64::MAX), (1e300, -f64::MAX), (f64::MIN_POSITIVE, 0.0)],
            SeriesStyle::Line,
        ));
        render_svg(&chart, 400, 300).unwrap();
        render_png(&chart, 400, 300).unwrap();
        chart.log_x = false;
        render_png(&chart, 400, 300).unwrap();
    }

    #[test]
    fn degenerate_ranges_render() {
        for (log_x, log_y) in [(false, false), (true, true), (true, false)] {
            for pts in
                [vec![(5.0, 5.0)], vec![(0.0, 0.0)], vec![(2.0, 3.0), (2.0, 3.0)], vec![(1.0, 1.0), (1.0001, 1.0)]]
            {
                let chart = Chart {
                    log_x,
                    log_y,
                    diagonal: true,
                    series: vec![Series::new("s", pts, SeriesStyle::Line)],
                    ..Chart::default()
                };
                render_svg(&chart, 300, 200).unwrap();
            }
        }
    }

    #[test]
    fn empty_chart_renders_frame_and_title() {
        let chart = Chart { title: "Nothing yet".into(), x_label: "x".into(), y_label: "y".into(), ..Chart::default() };
        let svg = render_svg(&chart, 400, 300).unwrap();
        assert!(svg.contains("Nothing yet"));
        assert_eq!(png_size(&render_png(&chart, 400, 300).unwrap()), (400, 300));
        let log = Chart { log_x: true, log_y: true, diagonal: true, ..chart };
        render_png(&log, 400, 300).unwrap();
        let empty_series = scatter_measured_vs_fitted("none", "s", &[], &[]);
        render_svg(&empty_series, 400, 300).unwrap();
    }

    #[test]
    fn size_limits_are_errors() {
        assert!(matches!(render_svg(&Chart::default(), 0, 300), Err(PlotError::Size { .. })));
        assert!(matches!(render_png(&Chart::default(), 400, MAX_SIDE + 1), Err(PlotError::Size { .. })));
    }

    #[test]
    fn groups_split_series_in_first_appearance_order() {
        let pts = [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        let chart = scatter_measured_vs_fitted("t", "ms", &pts, &["b", "a", "b"]);
        let labels: Vec<&str> = chart.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["b", "a"]);
        assert_eq!(chart.series[0].points, vec![(1.0, 1.0), (3.0, 3.0)]);
        // Mismatched group list: one series.
        assert_eq!(scatter_measured_vs_fitted("t", "ms", &pts, &["a"]).series.len(), 1);
    }

    #[test]
    fn ticks_and_labels() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(0.1 + 0.2), "0.3");
        assert_eq!(format_tick(1000.0), "1000");
        assert_eq!(format_tick(1e6), "1e6");
        assert_eq!(format_tick(2.5e-5), "2.5e-5");
        assert_eq!(format_tick(-12.5), "-12.5");
        let (bold, _) = linear_ticks(0.0, 10.0, 5.0);
        assert_eq!(bold, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let (bold, light) = log_ticks(-0.2, 3.2);
        assert_eq!(bold, vec![0.0, 1.0, 2.0, 3.0]);
        assert!(!light.is_empty());
        let (bold, _) = log_ticks(0.1, 0.5); // 1.26 .. 3.16: still labelled
        assert!(bold.len() >= 2, "{bold:?}");
        let (bold, _) = log_ticks(-300.0, 300.0);
        assert!(bold.len() <= 9 && bold.len() >= 4, "{bold:?}");
        assert!(linear_ticks(-f64::MAX, f64::MAX, 5.0).0.len() <= 201);
    }

    /// Ranges draw one line per pair, drop a pair with an end a log axis cannot show, and take the
    /// palette entry they name.
    #[test]
    fn segments_draw_a_line_per_valid_pair() {
        let chart = Chart {
            title: "ranges".into(),
            log_x: true,
            log_y: true,
            series: vec![Series {
                palette: Some(11),
                ..Series::new("r", vec![(10.0, 5.0), (10.0, 20.0), (30.0, 0.0), (30.0, 40.0)], SeriesStyle::Segments)
            }],
            ..Chart::default()
        };
        let svg = render_svg(&chart, 400, 300).unwrap();
        let c = series_color(11);
        let stroke = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        assert_eq!(svg.matches(&format!("stroke=\"{stroke}\"")).count(), 1, "{svg}");
    }

    /// Writes `/tmp/pdsim-plot-sample.png` (and `.svg`) for eyeballing: `cargo test --lib report::plot -- --ignored`.
    #[test]
    #[ignore = "writes sample files to /tmp for visual inspection"]
    fn write_sample_files() {
        std::fs::write("/tmp/pdsim-plot-sample.png", render_png(&sample_chart(), 800, 600).unwrap()).unwrap();
        std::fs::write("/tmp/pdsim-plot-sample.svg", render_svg(&sample_chart(), 800, 600).unwrap()).unwrap();
        std::fs::write("/tmp/pdsim-plot-sample-line.png", render_png(&line_chart(), 800, 500).unwrap()).unwrap();
        let narrow = Chart {
            title: "narrow log range, mixed scales".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_y: true,
            diagonal: true,
            series: vec![Series::new("s", vec![(1.3, 1.4), (2.0, 2.2), (2.9, 2.7), (0.0, -1.0)], SeriesStyle::Points)],
            ..Chart::default()
        };
        std::fs::write("/tmp/pdsim-plot-sample-narrow.png", render_png(&narrow, 500, 400).unwrap()).unwrap();
        let empty = scatter_measured_vs_fitted("No data", "ms", &[], &[]);
        std::fs::write("/tmp/pdsim-plot-sample-empty.png", render_png(&empty, 400, 300).unwrap()).unwrap();
    }
}
