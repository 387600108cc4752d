//! Percentiles and the printed table. Timing targets are reported, never asserted; only
//! correctness checks (call counts, failed requests) fail the run.

use std::time::Duration;

#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Nearest-rank percentiles of a sample.
pub fn summarize(mut v: Vec<Duration>) -> Summary {
    if v.is_empty() {
        return Summary::default();
    }
    v.sort_unstable();
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Summary {
        n: v.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        max: v[v.len() - 1],
    }
}

/// `850 µs`, `2.61 ms`, `1.20 s`.
pub fn dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 10e3 {
        format!("{:.2} ms", us / 1e3)
    } else if us < 100e3 {
        format!("{:.1} ms", us / 1e3)
    } else if us < 1e6 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

pub fn kib(k: u64) -> String {
    if k >= 10 * 1024 {
        format!("{:.1} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

pub fn bytes(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Meets its target.
    Ok,
    /// Misses a speed or size target (reported, not a failure).
    Missed,
    /// A correctness check failed: the run exits non-zero.
    Fail,
    /// A figure without a target.
    Info,
}

impl Verdict {
    pub fn target(met: bool) -> Verdict {
        if met { Verdict::Ok } else { Verdict::Missed }
    }
    pub fn check(ok: bool) -> Verdict {
        if ok { Verdict::Ok } else { Verdict::Fail }
    }
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Missed => "MISSED",
            Verdict::Fail => "FAIL",
            Verdict::Info => "",
        }
    }
}

struct Row {
    section: String,
    figure: String,
    measured: String,
    target: String,
    verdict: Verdict,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    pub fn row(
        &mut self,
        section: &str,
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            section: section.into(),
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            verdict,
        });
    }

    /// A figure without a target.
    pub fn info(&mut self, section: &str, figure: impl Into<String>, measured: impl Into<String>) {
        self.row(section, figure, measured, "", Verdict::Info);
    }

    /// A failed section or check, with why.
    pub fn fail(&mut self, section: &str, what: impl Into<String>) {
        let what = what.into();
        self.row(section, "error", first_line(&what), "", Verdict::Fail);
        self.notes.push(format!("{section}: {what}"));
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Fail)
    }

    pub fn print(&self) {
        let w = |f: fn(&Row) -> &str, head: &str| {
            self.rows
                .iter()
                .map(|r| f(r).chars().count())
                .chain([head.len()])
                .max()
                .unwrap_or(0)
        };
        let (ws, wf, wm, wt) = (
            w(|r| &r.section, "section"),
            w(|r| &r.figure, "figure"),
            w(|r| &r.measured, "measured"),
            w(|r| &r.target, "target"),
        );
        let line = |s: &str, f: &str, m: &str, t: &str, v: &str| {
            let pad = |x: &str, n: usize| format!("{x}{}", " ".repeat(n - x.chars().count()));
            println!(
                "{}  {}  {}  {}  {v}",
                pad(s, ws),
                pad(f, wf),
                pad(m, wm),
                pad(t, wt)
            );
        };
        line("section", "figure", "measured", "target", "verdict");
        println!("{}", "-".repeat(ws + wf + wm + wt + 8 + 7));
        let mut last = "";
        for r in &self.rows {
            let s = if r.section == last { "" } else { &r.section };
            last = &r.section;
            line(s, &r.figure, &r.measured, &r.target, r.verdict.label());
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("* {n}");
            }
        }
    }
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default();
    if l.chars().count() > 70 {
        format!("{}…", l.chars().take(70).collect::<String>())
    } else {
        l.to_string()
    }
}
