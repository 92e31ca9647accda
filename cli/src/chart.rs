//! The PNG chart of `cargo xtask bench`: records/s and CPU µs per record per producer, each a
//! bar at the mean over the rounds with a min–max error bar.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One producer process in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Producer name.
    pub producer: String,
    /// Records per second.
    pub records_per_sec: f64,
    /// Producer CPU (user + sys) per record, µs.
    pub cpu_us_per_record: f64,
}

/// Parses the rounds file: tab-separated `producer, round, records/s, CPU µs/record, RSS KiB`
/// lines; a first line starting with `producer` is a header.
pub fn parse_rounds(text: &str) -> Result<Vec<Round>, String> {
    let mut rounds = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (i == 0 && line.starts_with("producer")) {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let num = |j: usize| -> Result<f64, String> {
            f.get(j)
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| format!("line {}: field {} is not a number", i + 1, j + 1))
        };
        rounds.push(Round {
            producer: f[0].to_owned(),
            records_per_sec: num(2)?,
            cpu_us_per_record: num(3)?,
        });
    }
    Ok(rounds)
}

/// A producer's name with the min, mean and max of its values.
pub type Summary = (String, f64, f64, f64);

/// Min, mean and max of each producer's values, in order of first appearance.
pub fn summarize(rounds: &[Round], value: impl Fn(&Round) -> f64) -> Vec<Summary> {
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for r in rounds {
        match out.iter_mut().find(|(p, _)| *p == r.producer) {
            Some((_, v)) => v.push(value(r)),
            None => out.push((r.producer.clone(), vec![value(r)])),
        }
    }
    out.into_iter()
        .map(|(p, v)| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (p, min, mean, max)
        })
        .collect()
}

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

fn load_font() -> Result<(), String> {
    for path in FONTS {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path}: not a usable font"));
        }
    }
    Err(format!(
        "no font found (looked for {FONTS:?}); `apt-get install fonts-dejavu-core`"
    ))
}

/// Draws the chart into `out` (PNG, 1400×560).
pub fn draw(rounds: &[Round], title: &str, out: &Path) -> Result<(), String> {
    if rounds.is_empty() {
        return Err("no rounds to draw".into());
    }
    load_font()?;
    let e = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", out.display());
    let root = BitMapBackend::new(out, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|x| e(&x))?;
    let panels = root.split_evenly((1, 2));
    let series: [(&str, Vec<Summary>, RGBColor); 2] = [
        (
            "records/s (higher is better)",
            summarize(rounds, |r| r.records_per_sec),
            RGBColor(52, 101, 164),
        ),
        (
            "producer CPU µs per record (lower is better)",
            summarize(rounds, |r| r.cpu_us_per_record),
            RGBColor(204, 102, 0),
        ),
    ];
    for (panel, (caption, stats, color)) in panels.iter().zip(series) {
        let n = stats.len();
        let top = stats.iter().map(|s| s.3).fold(0.0, f64::max) * 1.15;
        let top = if top > 0.0 { top } else { 1.0 };
        let names: Vec<String> = stats.iter().map(|s| s.0.clone()).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..top)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .y_label_formatter(&|v| {
                if top >= 10_000.0 {
                    format!("{:.0}k", v / 1000.0)
                } else {
                    format!("{v:.1}")
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(stats.iter().enumerate().map(|(i, s)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), s.2),
                    ],
                    color.mix(0.75).filled(),
                );
                bar.set_margin(0, 0, 18, 18);
                bar
            }))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(stats.iter().enumerate().map(|(i, s)| {
                ErrorBar::new_vertical(
                    SegmentValue::CenterOf(i),
                    s.1,
                    s.2,
                    s.3,
                    BLACK.stroke_width(2),
                    14,
                )
            }))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(stats.iter().enumerate().map(|(i, s)| {
                let text = if top >= 10_000.0 {
                    format!("{:.0}k", s.2 / 1000.0)
                } else {
                    format!("{:.2}", s.2)
                };
                Text::new(
                    text,
                    (SegmentValue::CenterOf(i), s.3 + top * 0.02),
                    ("sans-serif", 14)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            }))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUNDS: &str = "producer\tround\trecords_per_sec\tcpu_us_per_record\trss_kib
kcat\t1\t800000\t1.2\t20000
odradek-tokio\t1\t300000\t3.0\t40000
kcat\t2\t900000\t1.4\t21000
odradek-tokio\t2\t340000\t3.2\t41000
";

    #[test]
    fn rounds_are_parsed_and_summarized_per_producer() {
        let rounds = parse_rounds(ROUNDS).unwrap();
        assert_eq!(rounds.len(), 4);
        let s = summarize(&rounds, |r| r.records_per_sec);
        assert_eq!(
            s,
            [
                ("kcat".into(), 800000.0, 850000.0, 900000.0),
                ("odradek-tokio".into(), 300000.0, 320000.0, 340000.0)
            ]
        );
        assert!(parse_rounds("kcat\t1\tfast\t1\t1").is_err());
    }

    #[test]
    fn draws_a_png() {
        if load_font().is_err() {
            eprintln!("no font on this machine; skipping the drawing");
            return;
        }
        let out = std::env::temp_dir().join(format!("odradek-chart-{}.png", std::process::id()));
        draw(&parse_rounds(ROUNDS).unwrap(), "test", &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "{} bytes", bytes.len());
        std::fs::remove_file(&out).unwrap();
    }
}
