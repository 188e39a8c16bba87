//! Charts for the oversight and public pages, drawn on the server by a charting library
//! (plotters, SVG backend): no JavaScript, no request to anyone, nothing for the
//! Content-Security-Policy to allow. Every chart carries its text alternative: an
//! `aria-label` naming what it shows, and the same figures as a table that the page puts
//! in a `<details>` beside it.

use plotters::prelude::*;

/// One chart and its figures.
#[derive(Debug, Clone)]
pub struct Chart {
    /// An id for the page (the `<figure>`'s, and for the table's caption).
    pub id: String,
    /// What it shows, in a sentence.
    pub title: String,
    /// What the values count (`requests`, `days`).
    pub unit: String,
    /// The SVG, ready to be placed in the page.
    pub svg: String,
    /// The figures: label, value as shown.
    pub rows: Vec<(String, String)>,
}

impl Chart {
    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Colours with at least 4.5:1 contrast on white (WCAG 2.1 AA for text; 3:1 suffices for
/// graphics): the bars, the axes and their labels.
const BAR: RGBColor = RGBColor(0x0b, 0x4f, 0x9c);
const INK: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
const GRID: RGBColor = RGBColor(0x76, 0x76, 0x76);

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart of `data` (label, value), one bar per label in the order given.
/// An empty `data` gives an empty chart (the page says there is nothing yet).
pub fn bars(id: &str, title: &str, unit: &str, data: &[(String, f64)]) -> Chart {
    let rows: Vec<(String, String)> = data
        .iter()
        .map(|(l, v)| (l.clone(), if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }))
        .collect();
    let mut chart = Chart { id: id.into(), title: title.into(), unit: unit.into(), svg: String::new(), rows };
    if data.is_empty() {
        return chart;
    }
    let n = data.len();
    let height = 60 + 30 * n as u32;
    let width = 560u32;
    let label_width = data.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(4).clamp(4, 28) as u32 * 8 + 16;
    let max = data.iter().map(|(_, v)| *v).fold(0.0f64, f64::max).max(1.0);
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut c = ChartBuilder::on(&root)
            .margin(8)
            .margin_right(24)
            .x_label_area_size(28)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..max * 1.08, (0..n).into_segmented())?;
        let labels: Vec<String> = data.iter().map(|(l, _)| l.clone()).collect();
        c.configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID.mix(0.35))
            .axis_style(GRID)
            .label_style(("sans-serif", 14).into_font().color(&INK))
            .x_labels(6)
            // Counts: whole numbers only on the axis.
            .x_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        c.draw_series(
            Histogram::horizontal(&c)
                .style(BAR.filled())
                .margin(5)
                .data(data.iter().enumerate().map(|(i, (_, v))| (i, *v))),
        )?;
        root.present()?;
        Ok(())
    })();
    if drawn.is_err() {
        // The figures stay in the table; the page shows no picture rather than a broken one.
        return chart;
    }
    let summary = data.iter().map(|(l, v)| format!("{l}: {v}")).collect::<Vec<_>>().join(", ");
    let label = escape(&format!("{title} ({unit}): {summary}"));
    chart.svg = svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{label}\" focusable=\"false\" "), 1);
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_with_its_text_alternative_and_no_inline_style() {
        let c =
            bars("m", "Requests by measure", "requests", &[("stored_data".into(), 3.0), ("preservation".into(), 1.0)]);
        assert!(
            c.svg.starts_with(
                "<svg role=\"img\" aria-label=\"Requests by measure (requests): stored_data: 3, preservation: 1\""
            ),
            "{}",
            &c.svg[..200.min(c.svg.len())]
        );
        assert!(c.svg.contains("stored_data") && c.svg.contains("<rect"));
        // A strict CSP (style-src 'self') would block inline style attributes.
        assert!(!c.svg.contains("style="), "no inline style");
        assert_eq!(c.rows, vec![("stored_data".into(), "3".into()), ("preservation".into(), "1".into())]);
    }

    #[test]
    fn labels_are_escaped_and_an_empty_chart_draws_nothing() {
        let c = bars("x", "T", "n", &[("<script>".into(), 1.0)]);
        assert!(!c.svg.contains("<script>"));
        let e = bars("e", "T", "n", &[]);
        assert!(e.is_empty() && e.svg.is_empty());
    }
}
