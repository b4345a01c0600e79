//! Output: the end-of-run summary table, the `--json` file and the `--report` HTML file
//! (self-contained: inline SVG and CSS, nothing fetched).

use crate::stats::{Fail, Kind, Totals};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// What one run produced, as the main thread sees it.
#[derive(Debug)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Transport name.
    pub transport: String,
    /// Workers.
    pub workers: usize,
    /// Offered (starting) rate.
    pub offered: f64,
    /// Wall time of the run, seconds.
    pub elapsed: f64,
    /// Everything counted.
    pub totals: Totals,
}

impl RunResult {
    /// Completed calls per second over the run (uas: answered requests per second).
    pub fn rate_achieved(&self) -> f64 {
        let c = &self.totals.counters;
        let n = if self.scenario == "uas" {
            c.answered
        } else {
            c.completed
        };
        if self.elapsed > 0.0 {
            n as f64 / self.elapsed
        } else {
            0.0
        }
    }

    /// p99 of the main latency kind, µs (0 without samples).
    pub fn main_p99_us(&self) -> u64 {
        let h = self.totals.hists.get(self.totals.main_kind);
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(0.99)
        }
    }
}

/// The percentiles reported for each kind.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)];

/// The summary table printed at the end.
pub fn summary(r: &RunResult) -> String {
    let c = &r.totals.counters;
    let mut s = String::new();
    if r.scenario == "uas" {
        let _ = writeln!(
            s,
            "ferrosip-bench uas over {} with {} worker(s): {:.2} s, answered {:.1} requests/s",
            r.transport,
            r.workers,
            r.elapsed,
            r.rate_achieved()
        );
    } else {
        let _ = writeln!(
        s,
        "ferrosip-bench {} over {} with {} worker(s): {:.2} s, offered {:.1}/s, achieved {:.1}/s",
        r.scenario,
        r.transport,
        r.workers,
        r.elapsed,
        r.offered,
        r.rate_achieved()
    );
    }
    let _ = writeln!(
        s,
        "calls: started {}  completed {}  failed {}  |  retransmissions {}  unexpected {}  stray {}  parse errors {}  send failures {}  table full {}",
        c.started, c.completed, c.failed, c.retransmissions, c.unexpected, c.stray, c.parse_errors, c.send_failed, c.table_full
    );
    if r.scenario == "uas" {
        let _ = writeln!(
            s,
            "answered {}  auth rejected {}",
            c.answered, c.auth_rejected
        );
    }
    if c.failed > 0 {
        let reasons: Vec<String> = Fail::ALL
            .iter()
            .filter(|f| c.fail[**f as usize] > 0)
            .map(|f| format!("{} {}", f.name(), c.fail[*f as usize]))
            .collect();
        let _ = writeln!(s, "failed by reason: {}", reasons.join(", "));
    }
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency", "count", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    for k in Kind::ALL {
        let h = r.totals.hists.get(k);
        if h.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            k.name(),
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
    s
}

/// The JSON summary (`--json`).
pub fn json(r: &RunResult, extra: Option<Value>) -> Value {
    let c = &r.totals.counters;
    let mut lat = Map::new();
    for k in Kind::ALL {
        let h = r.totals.hists.get(k);
        if h.is_empty() {
            continue;
        }
        let mut m = Map::new();
        m.insert("count".into(), json!(h.len()));
        for (name, q) in QUANTILES {
            m.insert(name.into(), json!(h.value_at_quantile(q)));
        }
        m.insert("max".into(), json!(h.max()));
        m.insert("mean".into(), json!((h.mean() * 10.0).round() / 10.0));
        lat.insert(k.name().into(), Value::Object(m));
    }
    let mut reasons = Map::new();
    for f in Fail::ALL {
        reasons.insert(f.name().into(), json!(c.fail[f as usize]));
    }
    let series: Vec<Value> = r
        .totals
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"t": i, "started": s.started, "completed": s.completed, "failed": s.failed,
                   "retransmissions": s.retransmissions, "p99_us": s.p99_us, "offered": s.offered})
        })
        .collect();
    let mut v = json!({
        "scenario": r.scenario,
        "transport": r.transport,
        "workers": r.workers,
        "elapsed_s": r.elapsed,
        "offered_rate": r.offered,
        "rate_achieved": r.rate_achieved(),
        "started": c.started,
        "completed": c.completed,
        "failed": c.failed,
        "failed_by_reason": reasons,
        "retransmissions": c.retransmissions,
        "unexpected": c.unexpected,
        "stray": c.stray,
        "parse_errors": c.parse_errors,
        "send_failed": c.send_failed,
        "table_full": c.table_full,
        "sent": c.sent,
        "received": c.received,
        "answered": c.answered,
        "auth_rejected": c.auth_rejected,
        "latency_us": lat,
        "series": series,
    });
    if let (Some(e), Value::Object(m)) = (extra, &mut v) {
        m.insert("find_max".into(), e);
    }
    v
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const W: f64 = 720.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// One line of a chart: name, color, points.
type Line<'a> = (String, &'a str, Vec<(f64, f64)>);

/// A line chart: each series is (name, color, points (x, y)); x and y axes linear unless
/// `log_x` (log10).
fn chart(title: &str, xlabel: &str, ylabel: &str, series: &[Line<'_>], log_x: bool) -> String {
    let fx = |x: f64| if log_x { x.max(1.0).log10() } else { x };
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in pts {
        x0 = x0.min(fx(x));
        x1 = x1.max(fx(x));
        y1 = y1.max(y);
    }
    if x0 >= x1 {
        x0 = 0.0;
        x1 = x1.max(1.0);
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.05 };
    let sx = |x: f64| PAD + (fx(x) - x0) / (x1 - x0) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD + -(y / y1) * (H - 2.0 * PAD);
    let mut s = String::new();
    let _ = write!(
        s,
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\"/>\
         <line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{}\" stroke=\"#000\"/>",
        esc(title),
        H - PAD,
        W - PAD,
        H - PAD,
        H - PAD
    );
    for i in 0..=4 {
        let y = y1 * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{:.0}</text>\
             <line x1=\"{PAD}\" y1=\"{gy:.1}\" x2=\"{}\" y2=\"{gy:.1}\" stroke=\"#eee\"/>",
            PAD - 4.0,
            sy(y) + 3.0,
            y,
            W - PAD,
            gy = sy(y)
        );
        let xv = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let label = if log_x {
            format!("{:.3}", 100.0 - 100.0 / 10f64.powf(xv))
        } else {
            format!("{xv:.1}")
        };
        let px = PAD + (xv - x0) / (x1 - x0) * (W - 2.0 * PAD);
        let _ = write!(
            s,
            "<text x=\"{px}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{label}</text>",
            H - PAD + 14.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
         <text x=\"12\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        W / 2.0,
        H - 12.0,
        esc(xlabel),
        H / 2.0,
        H / 2.0,
        esc(ylabel)
    );
    for (i, (name, color, p)) in series.iter().enumerate() {
        let path: Vec<String> = p
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            path.join(" "),
            W - PAD - 120.0,
            PAD + 14.0 * i as f64,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// The HTML report (`--report`).
pub fn html(r: &RunResult) -> String {
    let mut lat = Vec::new();
    for (i, k) in Kind::ALL.iter().enumerate() {
        let h = r.totals.hists.get(*k);
        if h.is_empty() {
            continue;
        }
        // x = 1/(1-q) on a log axis (labelled as percentiles), y = latency µs.
        let mut p = Vec::new();
        for q in [
            0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
        ] {
            p.push((1.0 / (1.0 - q), h.value_at_quantile(q) as f64));
        }
        lat.push((k.name().to_string(), COLORS[i], p));
    }
    let series = &r.totals.series;
    let rate = vec![
        (
            "completed/s".to_string(),
            COLORS[2],
            series
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.completed as f64))
                .collect(),
        ),
        (
            "offered/s".to_string(),
            COLORS[0],
            series
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.offered))
                .collect(),
        ),
        (
            "failed/s".to_string(),
            COLORS[1],
            series
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.failed as f64))
                .collect(),
        ),
    ];
    let p99 = vec![(
        format!("{} p99 µs", r.totals.main_kind.name()),
        COLORS[3],
        series
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64, s.p99_us as f64))
            .collect(),
    )];
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ferrosip-bench report</title>\
         <style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f6f6f6;padding:1em}}</style></head><body>\
         <h1>ferrosip-bench: {}</h1><pre>{}</pre>{}{}{}</body></html>\n",
        esc(&r.scenario),
        esc(&summary(r)),
        chart("Latency distribution", "percentile", "µs", &lat, true),
        chart("Rate over time", "second", "per second", &rate, false),
        chart("p99 latency over time", "second", "µs", &p99, false),
    )
}
