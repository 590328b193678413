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

    let types = tally(report.families.iter().map(|f| f.clone_type.as_str()));
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
        let reasons = tally(report.skipped.iter().map(|s| s.reason.as_str()));
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

/// "2 T1, 5 T3": how often each distinct item occurs, in sorted order.
fn tally<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .iter()
        .map(|(item, n)| format!("{n} {item}"))
        .collect::<Vec<_>>()
        .join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Family, Instance, SimilarityRange, Skipped};

    #[test]
    fn lists_instances_as_path_and_lines_and_summarises() {
        let instance = |path: &str, start| Instance {
            path: path.into(),
            start_line: start,
            end_line: start + 9,
            tokens: 90,
            category: "function".into(),
        };
        let mut report = Report::default();
        report.families.push(Family {
            id: 1,
            clone_type: "T3".into(),
            similarity: SimilarityRange {
                min: 0.81,
                max: 0.9,
            },
            category: "function".into(),
            language: "go".into(),
            duplicated_lines: 10,
            files: 2,
            instances: vec![instance("a.go", 3), instance("b/c.go", 40)],
        });
        report.skipped.push(Skipped {
            path: "x.c".into(),
            reason: "binary".into(),
            detail: "contains NUL bytes".into(),
        });
        report.stats.families = 1;
        report.stats.skipped_files = 1;
        let text = render_text(&report, 20);
        for line in [
            "#1 T3 function (go): 2 instances in 2 files, 10 duplicated lines, similarity 0.81-0.90",
            "    a.go:3-12",
            "    b/c.go:40-49",
            "1 families (1 T3), 0 duplicated lines",
            "1 files skipped: 1 binary",
            "    x.c: contains NUL bytes",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(render_text(&report, 0).contains("... and 1 more families"));
    }
}
