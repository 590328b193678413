//! The terminal summary: the largest families first, each instance as `path:start-end`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::Report;

/// Renders the report for a terminal, listing at most `top` families. Each instance is
/// written `path:line` (which terminals and editors open) with the path as it opens from
/// where the command ran, then its line range; control characters in names are escaped.
pub fn render_text(report: &Report, top: usize) -> String {
    let mut out = String::new();
    let s = &report.stats;
    let listed: Vec<&crate::Family> = report.families.iter().filter(|f| !f.subsumed).collect();
    for family in listed.iter().take(top) {
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
            "#{} {} {} ({}): {} in {}, {}{}",
            family.id,
            family.clone_type,
            family.category,
            family.language,
            count(family.instances.len() as u64, "instance"),
            count(family.files as u64, "file"),
            count(family.duplicated_lines, "duplicated line"),
            similarity,
        );
        if let Some(within) = family.within {
            let _ = writeln!(out, "    inside family #{within}");
        }
        for instance in &family.instances {
            let _ = writeln!(
                out,
                "    {}:{}  (lines {}-{})",
                shown_path(&report.root, &instance.path),
                instance.start_line,
                instance.start_line,
                instance.end_line
            );
        }
    }
    if listed.len() > top {
        let rest = listed.len() - top;
        let noun = if rest == 1 { "family" } else { "families" };
        let _ = writeln!(
            out,
            "... and {rest} more {noun} (--top to list more, --format json for all)"
        );
    }
    if !listed.is_empty() {
        out.push('\n');
    }

    let types = tally(listed.iter().map(|f| f.clone_type.as_str()));
    let _ = writeln!(
        out,
        "{}{}, {}",
        count(s.families, "family"),
        if types.is_empty() {
            String::new()
        } else {
            format!(" ({types})")
        },
        count(s.duplicated_lines, "duplicated line")
    );
    let _ = writeln!(
        out,
        "{}, {}, {} in {}",
        count(s.files, "file"),
        count(s.lines, "line"),
        count(s.fragments, "fragment"),
        languages(report)
    );
    if s.skipped_files > 0 {
        let reasons = tally(report.skipped.iter().map(|s| s.reason.name()));
        let _ = writeln!(out, "{} skipped: {reasons}", count(s.skipped_files, "file"));
        for skip in report.skipped.iter().take(10) {
            let _ = writeln!(
                out,
                "    {}: {}",
                shown_path(&report.root, &skip.path),
                escape_controls(&skip.detail)
            );
        }
        if report.skipped.len() > 10 {
            let _ = writeln!(out, "    ... (--format json lists all)");
        }
    }
    if s.files_with_syntax_errors > 0 {
        let by_language: Vec<String> = s
            .languages
            .iter()
            .filter(|(_, l)| l.files_with_syntax_errors > 0)
            .map(|(name, l)| format!("{name} {}", l.files_with_syntax_errors))
            .collect();
        let _ = writeln!(
            out,
            "{} had syntax errors ({}), analysed with error recovery (--format json lists them)",
            count(s.files_with_syntax_errors, "file"),
            by_language.join(", ")
        );
    }
    let w = &s.work;
    if w.files_reused > 0 {
        let _ = writeln!(
            out,
            "{} unchanged since the last run (from the pattern database), {} parsed, {} matched again",
            count(w.files_reused, "file"),
            w.files_parsed,
            count(w.fragments_matched, "fragment")
        );
    }
    let t = &s.timings_ms;
    let b = &s.backend;
    let on = match (&b.adapter, &b.fallback) {
        (Some(adapter), _) => format!("{}: {adapter}", b.name),
        (None, Some(why)) => format!("{} ({why})", b.name),
        (None, None) => b.name.clone(),
    };
    let _ = writeln!(
        out,
        "time: {:.2}s (walk {:.2}s, parse {:.2}s, match {:.2}s; {} candidates, matched on {on})",
        t.total / 1e3,
        t.walk / 1e3,
        t.parse / 1e3,
        t.matching / 1e3,
        report.settings.candidates,
    );
    out
}

/// "1 file", "2 files", "1 family", "3 families".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {noun}s")
    }
}

/// A root-relative path as it opens from where the command ran: joined to the root as the
/// user gave it, with control characters escaped.
fn shown_path(root: &str, relative: &str) -> String {
    let joined = if root.is_empty() || root == "." || root == "./" {
        relative.to_string()
    } else if root.ends_with('/') {
        format!("{root}{relative}")
    } else {
        format!("{root}/{relative}")
    };
    escape_controls(&joined)
}

/// Control characters (which could move the cursor or recolour the terminal, or split a
/// line) written as escapes: `\n`, `\t`, `\r`, `\e`, else `\u{..}`.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
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
    use crate::{Family, Instance, SimilarityRange, SkipReason, Skipped};

    #[test]
    fn lists_instances_as_path_and_lines_and_summarises() {
        let instance = |path: &str, start| Instance {
            path: path.into(),
            path_bytes: None,
            start_line: start,
            end_line: start + 9,
            start_col: 1,
            end_col: 2,
            start_byte: 0,
            end_byte: 100,
            tokens: 90,
            category: "function".into(),
            fragment: "0000000000000001".into(),
        };
        let mut report = Report::default();
        report.families.push(Family {
            id: 1,
            key: "0000000000000002".into(),
            clone_type: "T3".into(),
            similarity: SimilarityRange {
                min: 0.81,
                max: 0.9,
            },
            category: "function".into(),
            language: "go".into(),
            duplicated_lines: 10,
            files: 2,
            containment: None,
            representative: 0,
            within: None,
            subsumed: false,
            instances: vec![instance("a.go", 3), instance("b/c.go", 40)],
        });
        report.skipped.push(Skipped {
            path: "x\u{1b}[31m\n.c".into(),
            path_bytes: None,
            reason: SkipReason::Binary,
            detail: "contains NUL bytes".into(),
        });
        report.root = "../proj".into();
        report.stats.families = 1;
        report.stats.skipped_files = 1;
        report.stats.files = 1;
        let text = render_text(&report, 20);
        for line in [
            "#1 T3 function (go): 2 instances in 2 files, 10 duplicated lines, similarity 0.81-0.90",
            "    ../proj/a.go:3  (lines 3-12)",
            "    ../proj/b/c.go:40  (lines 40-49)",
            "1 family (1 T3), 0 duplicated lines",
            "1 file, 0 lines, 0 fragments in no supported language",
            "1 file skipped: 1 binary",
            "    ../proj/x\\e[31m\\n.c: contains NUL bytes",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(render_text(&report, 0).contains("... and 1 more family (--top"));
        assert!(
            !text.contains('\u{1b}'),
            "a control character reached the terminal"
        );
    }
}
