//! SVG plots of reproduction results (plotters' SVG backend: text is
//! written as SVG `<text>`, so no font files or system libraries are needed).

use std::path::Path;

use plotters::prelude::*;
use sched_repro::{Cdf, Lines};

/// At most this many points per curve (evenly spaced ranks): keeps files small.
const MAX_POINTS: usize = 2000;

/// Writes `cdf` as `dir/<id>.svg`: latency (ms) against the fraction of
/// samples at or below it.
pub(crate) fn cdf(dir: &Path, cdf: &Cdf) -> Result<std::path::PathBuf, String> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = cdf
        .curves
        .iter()
        .map(|c| {
            let mut v: Vec<f64> = c.samples_ns.iter().map(|&x| x as f64 / 1e6).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let step = n.div_ceil(MAX_POINTS).max(1);
            let points = (0..n)
                .step_by(step)
                .chain((n > 0).then_some(n - 1))
                .map(|k| (v[k], (k + 1) as f64 / n as f64))
                .collect();
            (c.label.clone(), points)
        })
        .collect();
    let x_max = curves
        .iter()
        .filter_map(|(_, p)| p.last().map(|q| q.0))
        .fold(1.0, f64::max)
        * 1.05;
    draw_lines(
        &dir.join(format!("{}.svg", cdf.id)),
        &cdf.title,
        ("response time (ms)", "CDF"),
        &curves,
        (x_max, 1.0),
        SeriesLabelPosition::LowerRight,
    )
}

/// Draws `curves` (label, points) into an SVG at `path`, axes from 0 to
/// `max` with the `desc` labels.
fn draw_lines(
    path: &Path,
    title: &str,
    desc: (&str, &str),
    curves: &[(String, Vec<(f64, f64)>)],
    max: (f64, f64),
    legend: SeriesLabelPosition,
) -> Result<std::path::PathBuf, String> {
    {
        let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..max.0, 0f64..max.1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(desc.0)
            .y_desc(desc.1)
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (label, points)) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(legend)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(path.to_path_buf())
}

/// Writes a grouped bar chart as `dir/<id>.svg`: one group per entry of
/// `groups`, one bar per series (`(label, value per group)`).
pub(crate) fn bars(
    dir: &Path,
    id: &str,
    title: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<std::path::PathBuf, String> {
    let path = dir.join(format!("{id}.svg"));
    let y_max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0, f64::max)
        * 1.15;
    let n = series.len().max(1) as f64;
    {
        let root = SVGBackend::new(&path, (900, 500)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..groups.len().max(1) as f64, 0f64..y_max)
            .map_err(|e| err(&e))?;
        let labels = groups.to_vec();
        // Ticks every half unit; a group's name goes on the tick at its
        // centre (g + 0.5), the others stay blank.
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * groups.len().max(1) + 1)
            .x_label_formatter(&|x| {
                let centre = (x - 0.5).rem_euclid(1.0) < 1e-6;
                match centre {
                    true => labels.get(x.floor() as usize).cloned().unwrap_or_default(),
                    false => String::new(),
                }
            })
            .y_desc("%")
            .draw()
            .map_err(|e| err(&e))?;
        for (s, (label, values)) in series.iter().enumerate() {
            let color = Palette99::pick(s).to_rgba();
            let w = 0.8 / n;
            chart
                .draw_series(values.iter().enumerate().map(|(g, &v)| {
                    let x0 = g as f64 + 0.1 + s as f64 * w;
                    Rectangle::new([(x0, 0.0), (x0 + w * 0.9, v)], color.filled())
                }))
                .map_err(|e| err(&e))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(path)
}

/// Writes `l` as `dir/<id>.svg`: one line per curve.
pub(crate) fn lines(dir: &Path, l: &Lines) -> Result<std::path::PathBuf, String> {
    let pts = l.curves.iter().flat_map(|(_, p)| p.iter());
    let (x_max, y_max) = pts.fold((1e-9f64, 1e-9f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    draw_lines(
        &dir.join(format!("{}.svg", l.id)),
        &l.title,
        (&l.x, &l.y),
        &l.curves,
        (x_max * 1.02, y_max * 1.1),
        SeriesLabelPosition::UpperRight,
    )
}
