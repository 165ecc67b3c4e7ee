//! SVG plots of reproduction results (plotters' SVG backend: text is
//! written as SVG `<text>`, so no font files or system libraries are needed).

use std::path::Path;

use plotters::prelude::*;
use sched_sim::repro::{Cdf, Lines};

/// At most this many points per curve (evenly spaced ranks): keeps files small.
const MAX_POINTS: usize = 2000;

/// Writes `cdf` as `dir/<id>.svg`: latency (ms) against the fraction of
/// samples at or below it.
pub(crate) fn cdf(dir: &Path, cdf: &Cdf) -> Result<std::path::PathBuf, String> {
    let path = dir.join(format!("{}.svg", cdf.id));
    let sorted: Vec<Vec<f64>> = cdf
        .curves
        .iter()
        .map(|c| {
            let mut v: Vec<f64> = c.samples_ns.iter().map(|&x| x as f64 / 1e6).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let x_max = sorted
        .iter()
        .filter_map(|v| v.last().copied())
        .fold(1.0, f64::max)
        * 1.05;
    let root = SVGBackend::new(&path, (800, 500)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&cdf.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..x_max, 0f64..1.0)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("response time (ms)")
        .y_desc("CDF")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (curve, v)) in cdf.curves.iter().zip(&sorted).enumerate() {
        let n = v.len();
        let step = n.div_ceil(MAX_POINTS).max(1);
        let points = (0..n)
            .step_by(step)
            .chain((n > 0).then_some(n - 1))
            .map(|k| (v[k], (k + 1) as f64 / n as f64));
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(&curve.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    drop(chart);
    drop(root);
    Ok(path)
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
    let path = dir.join(format!("{}.svg", l.id));
    let pts = l.curves.iter().flat_map(|(_, p)| p.iter());
    let (x_max, y_max) = pts.fold((1e-9f64, 1e-9f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    {
        let root = SVGBackend::new(&path, (800, 500)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&l.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(l.x.as_str())
            .y_desc(l.y.as_str())
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (label, points)) in l.curves.iter().enumerate() {
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
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(path)
}
