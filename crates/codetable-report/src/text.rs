//! The terminal summary: the largest families first, each instance as `path:start-end`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::Report;

/// Renders the report for a terminal, listing at most `top` families.
pub fn render_text(report: &Report, top: usize) -> String {
    let mut out = String::new();
    let s = &report.stats;
    for family in report.families.iter().take(top) {
        let similarity = if family.clone_type == "T3" {
            format!(
                ", similarity {:.2}-{:.2}",
                family.similarity.min, family.similarity.max
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "#{} {} {} ({}): {} instances in {} files, {} duplicated lines{}",
            family.id,
            family.clone_type,
            family.category,
            family.language,
            family.instances.len(),
            family.files,
            family.duplicated_lines,
            similarity,
        );
        for instance in &family.instances {
            let _ = writeln!(
                out,
                "    {}:{}-{}",
                instance.path, instance.start_line, instance.end_line
            );
        }
    }
    if report.families.len() > top {
        let _ = writeln!(
            out,
            "... and {} more families (--top to list more, --format json for all)",
            report.families.len() - top
        );
    }
    if !report.families.is_empty() {
        out.push('\n');
    }

    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for family in &report.families {
        *by_type.entry(family.clone_type.as_str()).or_default() += 1;
    }
    let types = by_type
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "{} families{}, {} duplicated lines",
        s.families,
        if types.is_empty() {
            String::new()
        } else {
            format!(" ({types})")
        },
        s.duplicated_lines
    );
    let _ = writeln!(
        out,
        "{} files, {} lines, {} fragments in {}",
        s.files,
        s.lines,
        s.fragments,
        languages(report)
    );
    if s.skipped_files > 0 {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for skip in &report.skipped {
            *reasons.entry(skip.reason.as_str()).or_default() += 1;
        }
        let reasons = reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "{} files skipped: {reasons}", s.skipped_files);
        for skip in report.skipped.iter().take(10) {
            let _ = writeln!(out, "    {}: {}", skip.path, skip.detail);
        }
        if report.skipped.len() > 10 {
            let _ = writeln!(out, "    ... (--format json lists all)");
        }
    }
    if s.files_with_syntax_errors > 0 {
        let _ = writeln!(
            out,
            "{} files had syntax errors (analysed with error recovery)",
            s.files_with_syntax_errors
        );
    }
    let t = &s.timings_ms;
    let _ = writeln!(
        out,
        "time: {:.2}s (walk {:.2}s, parse {:.2}s, match {:.2}s)",
        t.total / 1e3,
        t.walk / 1e3,
        t.parse / 1e3,
        t.matching / 1e3
    );
    out
}

fn languages(report: &Report) -> String {
    if report.stats.languages.is_empty() {
        return "no supported language".into();
    }
    report
        .stats
        .languages
        .iter()
        .map(|(name, l)| format!("{name} ({})", l.files))
        .collect::<Vec<_>>()
        .join(", ")
}
