//! Clone-detection recall on real history: the same function in two releases of real
//! libraries, per language and by how much of it changed.
//!
//! `scripts/history-corpus.sh` lays out two releases of each library as
//! `<lang>/<lib>/old/...` and `<lang>/<lib>/new/...` (override the corpus with
//! `CODETABLE_HISTORY_CORPUS`). Functions pair by file path and qualified name; a pair counts
//! as found when one reported family holds both functions exactly (path and line range).
//! Only functions codetable takes as fragments are asked for: both versions have at least
//! 50 of its tokens (a string or template literal is one) and 5 lines.
//! Pairs are banded by the share of their (stripped, non-blank) lines that changed. Run with
//! `--nocapture` to see the table and a sample of the missed pairs;
//! `CODETABLE_HISTORY_MISSES=FILE` writes every missed pair there, and
//! `CODETABLE_HISTORY_LIBS=a,b` analyses only those libraries.

#[path = "recall/backends.rs"]
mod backends;
#[path = "recall/corpus.rs"]
mod corpus;
#[allow(dead_code)]
#[path = "recall/mutate.rs"]
mod mutate;

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use backends::analyze_on_both;
use codetable::{Report, Strategy};
use corpus::source_files;
use mutate::{DIALECTS, Dialect, Function, functions};

/// Bands of the share of lines changed: (upper bound, label, asserted recall: the goals of
/// the record-model issue).
type Band = (f64, &'static str, Option<f64>);

const BANDS: &[Band] = &[
    (0.10, "<=10%", Some(0.99)),
    (0.25, "10-25%", Some(0.97)),
    (0.40, "25-40%", Some(0.90)),
    (0.60, "40-60%", Some(0.70)),
    (1.00, ">60%", None),
];

const MIN_TOKENS: usize = 50;
const MIN_LINES: u32 = 5;
const SAMPLE: usize = 12;

fn corpus() -> PathBuf {
    corpus::prepared("CODETABLE_HISTORY_CORPUS", "history-corpus")
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn text<'a>(node: tree_sitter::Node, source: &'a str) -> &'a str {
    &source[node.byte_range()]
}

/// The name a function's header declares (C: the declarator's identifier).
fn own_name(node: tree_sitter::Node, source: &str) -> Option<String> {
    if let Some(name) = node.child_by_field_name("name") {
        return Some(text(name, source).to_string());
    }
    let mut declarator = node.child_by_field_name("declarator")?;
    loop {
        match declarator.child_by_field_name("declarator") {
            Some(inner) => declarator = inner,
            None => return Some(text(declarator, source).to_string()),
        }
    }
}

/// The names of what encloses a function: classes, impls, modules, object literals' keys.
fn qualifier(node: tree_sitter::Node, source: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut at = node.parent();
    while let Some(n) = at {
        let part = match n.kind() {
            "impl_item" => {
                let ty = n.child_by_field_name("type").map(|t| text(t, source));
                let tr = n.child_by_field_name("trait").map(|t| text(t, source));
                match (tr, ty) {
                    (Some(tr), Some(ty)) => Some(format!("<{ty} as {tr}>")),
                    (None, Some(ty)) => Some(ty.to_string()),
                    _ => None,
                }
            }
            "pair" => n.child_by_field_name("key").map(|k| text(k, source).into()),
            "assignment_expression" => n
                .child_by_field_name("left")
                .map(|l| text(l, source).into()),
            "variable_declarator" => n
                .child_by_field_name("name")
                .map(|l| text(l, source).into()),
            _ => n
                .child_by_field_name("name")
                .map(|l| text(l, source).to_string()),
        };
        if let Some(p) = part {
            parts.push(p.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        at = n.parent();
    }
    parts.reverse();
    parts
}

/// Qualified names of the functions `functions()` finds, by their (start, end) lines.
fn names(dialect: &Dialect, source: &str) -> HashMap<(u32, u32), String> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&dialect.language.grammar()).unwrap();
    let tree = parser.parse(source, None).unwrap();
    let mut out = HashMap::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        let kind = node.kind();
        if dialect.functions.contains(&kind) || dialect.methods.contains(&kind) {
            if let Some(name) = own_name(node, source) {
                let mut q = qualifier(node, source);
                q.push(name);
                let lines = (
                    node.start_position().row as u32 + 1,
                    node.end_position().row as u32 + 1,
                );
                out.insert(lines, q.join("::"));
            }
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    out
}

/// The functions of one file by qualified name, names declared twice left out.
fn named_functions(dialect: &Dialect, path: &str, source: &str) -> HashMap<String, Function> {
    let names = names(dialect, source);
    let mut out: HashMap<String, Function> = HashMap::new();
    let mut twice = Vec::new();
    for f in functions(dialect, path, source) {
        let Some(name) = names.get(&(f.start_line, f.end_line)) else {
            continue;
        };
        if out.insert(name.clone(), f).is_some() {
            twice.push(name.clone());
        }
    }
    for name in twice {
        out.remove(&name);
    }
    out
}

fn stripped_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Longest common subsequence of two line lists.
fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut prev = vec![0u32; b.len() + 1];
    let mut row = vec![0u32; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()] as usize
}

struct Pair {
    lang: &'static str,
    lib: String,
    name: String,
    old: Function,
    new: Function,
    changed: f64,
    band: usize,
}

fn pairs(dialect: &Dialect, lib_dir: &Path) -> Vec<Pair> {
    let lang = dialect.language.name();
    let lib = lib_dir.file_name().unwrap().to_string_lossy().to_string();
    let old_root = lib_dir.join("old");
    let mut out = Vec::new();
    for old_path in source_files(&old_root, dialect.extension) {
        let rel = old_path
            .strip_prefix(&old_root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let new_path = lib_dir.join("new").join(&rel);
        let (Ok(old_src), Ok(new_src)) = (
            std::fs::read_to_string(&old_path),
            std::fs::read_to_string(&new_path),
        ) else {
            continue;
        };
        let mut olds = named_functions(dialect, &format!("old/{rel}"), &old_src);
        let mut news = named_functions(dialect, &format!("new/{rel}"), &new_src);
        let (old_tokens, new_tokens) = (
            token_starts(dialect, &old_src),
            token_starts(dialect, &new_src),
        );
        let mut names: Vec<String> = olds.keys().cloned().collect();
        names.sort();
        for name in names {
            let old = olds.remove(&name).unwrap();
            let Some(new) = news.remove(&name) else {
                continue;
            };
            // Counted as codetable counts them (a template string is one literal), so that
            // only functions it takes as fragments are asked for.
            let big = |f: &Function, starts: &[usize]| {
                let tokens = starts.partition_point(|&t| t < f.bytes.end)
                    - starts.partition_point(|&t| t < f.bytes.start);
                tokens >= MIN_TOKENS && f.end_line - f.start_line + 1 >= MIN_LINES
            };
            if !big(&old, &old_tokens) || !big(&new, &new_tokens) {
                continue;
            }
            let (a, b) = (stripped_lines(&old.text), stripped_lines(&new.text));
            if a == b {
                continue;
            }
            let changed = 1.0 - lcs(&a, &b) as f64 / a.len().max(b.len()) as f64;
            let band = BANDS
                .iter()
                .position(|&(upper, _, _)| changed <= upper + 1e-9)
                .unwrap();
            out.push(Pair {
                lang,
                lib: lib.clone(),
                name,
                old,
                new,
                changed,
                band,
            });
        }
    }
    out
}

/// Where codetable's tokens of a file start, in order.
fn token_starts(dialect: &Dialect, source: &str) -> Vec<usize> {
    let mut parser = codetable_syntax::SyntaxParser::default();
    parser
        .parse(dialect.language, source.as_bytes())
        .map(|tree| tree.tokens.iter().map(|t| t.start as usize).collect())
        .unwrap_or_default()
}

/// The families holding exactly `f` (path and lines).
fn families_of(report: &Report, f: &Function) -> Vec<usize> {
    let mut exact: Vec<usize> = (0..report.families.len())
        .filter(|&k| {
            report.families[k].instances.iter().any(|i| {
                i.path == f.path && i.start_line == f.start_line && i.end_line == f.end_line
            })
        })
        .collect();
    exact.dedup();
    exact
}

/// Families with a fragment that encloses `f` (bigger than it) and one inside it.
fn around(report: &Report, f: &Function) -> (Vec<usize>, Vec<usize>) {
    let (mut outer, mut inner) = (Vec::new(), Vec::new());
    for (k, family) in report.families.iter().enumerate() {
        for i in family.instances.iter().filter(|i| i.path == f.path) {
            let same = i.start_line == f.start_line && i.end_line == f.end_line;
            if same {
                continue;
            }
            if i.start_line <= f.start_line && i.end_line >= f.end_line {
                outer.push(k);
            } else if i.start_line <= f.end_line && i.end_line >= f.start_line {
                inner.push(k);
            }
        }
    }
    outer.dedup();
    inner.dedup();
    (outer, inner)
}

/// Why a pair was missed, as the report shows it.
fn diagnosis(report: &Report, p: &Pair) -> &'static str {
    let (old, new) = (families_of(report, &p.old), families_of(report, &p.new));
    let ((old_outer, old_inner), (new_outer, new_inner)) =
        (around(report, &p.old), around(report, &p.new));
    match (old.is_empty(), new.is_empty()) {
        (false, false) => "split: each side in another family",
        (false, true) | (true, false) => "one side in a family, the other in none",
        _ if old_outer.iter().any(|k| new_outer.contains(k)) => {
            "no function family, enclosing fragments paired"
        }
        _ if old_inner.iter().any(|k| new_inner.contains(k)) => {
            "no function family, a part of it paired"
        }
        _ if !old_outer.is_empty() || !new_outer.is_empty() => "in no family but enclosing ones",
        _ if !old_inner.is_empty() || !new_inner.is_empty() => "in no family but parts of it",
        _ => "in no family",
    }
}

/// The families touching `f`, for the misses file.
fn touching(report: &Report, f: &Function) -> String {
    let mut out = String::new();
    for family in &report.families {
        if family
            .instances
            .iter()
            .any(|i| i.path == f.path && i.start_line <= f.end_line && i.end_line >= f.start_line)
        {
            let _ = write!(
                out,
                "\n      family {} {} {}:",
                family.id, family.clone_type, family.category
            );
            for i in family.instances.iter().take(6) {
                let _ = write!(out, " {}:{}-{}", i.path, i.start_line, i.end_line);
            }
            if family.instances.len() > 6 {
                let _ = write!(out, " (+{})", family.instances.len() - 6);
            }
        }
    }
    out
}

#[test]
fn recall_on_real_history() {
    let corpus = corpus();
    let only: Option<Vec<String>> = std::env::var("CODETABLE_HISTORY_LIBS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    // (lang, band) -> [found, found or both inside one family's enclosing fragments, pairs]
    let mut cells: HashMap<(&str, usize), [usize; 3]> = HashMap::new();
    let mut misses: Vec<(Pair, &'static str, String)> = Vec::new();
    let debug = std::env::var_os("CODETABLE_HISTORY_MISSES").is_some();
    let mut libs = String::new();
    for dialect in DIALECTS {
        let lang = dialect.language.name();
        for lib_dir in subdirs(&corpus.join(lang)) {
            let lib = lib_dir.file_name().unwrap().to_string_lossy().to_string();
            if only.as_ref().is_some_and(|o| !o.contains(&lib)) {
                continue;
            }
            let started = Instant::now();
            let report = analyze_on_both(&lib_dir, &[Strategy::Lsh]);
            // Files codetable leaves out (generated, too big) cannot be found.
            let skipped: HashSet<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
            let (pairs, left_out): (Vec<Pair>, Vec<Pair>) =
                pairs(dialect, &lib_dir).into_iter().partition(|p| {
                    !skipped.contains(p.old.path.as_str()) && !skipped.contains(p.new.path.as_str())
                });
            let mut found_here = 0;
            for p in pairs.iter() {
                let (old, new) = (families_of(&report, &p.old), families_of(&report, &p.new));
                let found = old.iter().any(|k| new.contains(k));
                let enclosed = found || {
                    let (old_outer, new_outer) =
                        (around(&report, &p.old).0, around(&report, &p.new).0);
                    old_outer.iter().any(|k| new_outer.contains(k))
                };
                let cell = cells.entry((lang, p.band)).or_default();
                cell[2] += 1;
                cell[0] += usize::from(found);
                cell[1] += usize::from(enclosed);
                found_here += usize::from(found);
            }
            let _ = writeln!(
                libs,
                "{lang:<11} {lib:<18} {:>5} pairs {:>5.1}% found, {} families, {:.1} s{}",
                pairs.len(),
                100.0 * found_here as f64 / pairs.len().max(1) as f64,
                report.families.len(),
                started.elapsed().as_secs_f64(),
                if left_out.is_empty() {
                    String::new()
                } else {
                    format!(" ({} pairs in skipped files left out)", left_out.len())
                }
            );
            for p in pairs {
                let (old, new) = (families_of(&report, &p.old), families_of(&report, &p.new));
                if !old.iter().any(|k| new.contains(k)) {
                    let why = diagnosis(&report, &p);
                    let detail = if debug {
                        format!("{}{}", touching(&report, &p.old), touching(&report, &p.new))
                    } else {
                        String::new()
                    };
                    misses.push((p, why, detail));
                }
            }
        }
    }

    let mut failures = Vec::new();
    let table = table(&cells, 0, &mut failures);
    let enclosed = table_of(&cells, 1);

    let mut why_counts: HashMap<(usize, &str), usize> = HashMap::new();
    for (p, why, _) in &misses {
        *why_counts.entry((p.band, *why)).or_default() += 1;
    }
    let mut why_lines: Vec<String> = why_counts
        .iter()
        .map(|((band, why), n)| format!("{:<8} {why}: {n}", BANDS[*band].1))
        .collect();
    why_lines.sort();

    println!(
        "{libs}\n{table}\nnot asserted: found, or both versions inside fragments (class, impl, \
         module) of one family:\n{enclosed}\nmisses by band and kind:\n{}",
        why_lines.join("\n")
    );
    println!("\nsample of missed pairs (path, name, old lines, new lines, tokens, changed):");
    for (band, &(_, label, _)) in BANDS.iter().enumerate() {
        let in_band: Vec<_> = misses.iter().filter(|(p, _, _)| p.band == band).collect();
        let stride = (in_band.len() / SAMPLE).max(1);
        println!("{label} ({} missed)", in_band.len());
        for (p, why, _) in in_band.iter().step_by(stride).take(SAMPLE) {
            println!("  {}", describe(p, why));
        }
    }
    if let Ok(file) = std::env::var("CODETABLE_HISTORY_MISSES") {
        let all: Vec<String> = misses
            .iter()
            .map(|(p, why, detail)| format!("{}\t{}{detail}", BANDS[p.band].1, describe(p, why)))
            .collect();
        std::fs::write(file, all.join("\n") + "\n").unwrap();
    }
    assert!(
        failures.is_empty(),
        "recall on real history below its target:\n{}\n{table}",
        failures.join("\n")
    );
}

fn describe(p: &Pair, why: &str) -> String {
    format!(
        "{}/{} {} {}:{}-{} -> {}-{} ({} -> {} lines, {} -> {} tokens, {:.0}% changed) {why}",
        p.lang,
        p.lib,
        p.name,
        p.old.path,
        p.old.start_line,
        p.old.end_line,
        p.new.start_line,
        p.new.end_line,
        p.old.end_line - p.old.start_line + 1,
        p.new.end_line - p.new.start_line + 1,
        p.old.tokens,
        p.new.tokens,
        p.changed * 100.0
    )
}

/// The recall table of column `col` of the cells (per language and band, and overall).
fn table_of(cells: &HashMap<(&str, usize), [usize; 3]>, col: usize) -> String {
    table(cells, col, &mut Vec::new())
}

/// The recall table; bands below their target are added to `failures`.
fn table(
    cells: &HashMap<(&str, usize), [usize; 3]>,
    col: usize,
    failures: &mut Vec<String>,
) -> String {
    let langs: Vec<&str> = DIALECTS.iter().map(|d| d.language.name()).collect();
    let mut table = String::new();
    let _ = write!(table, "{:<8}", "changed");
    for lang in &langs {
        let _ = write!(table, "{lang:>17}");
    }
    let _ = writeln!(table, "{:>17}  target", "all");
    for (band, &(_, label, target)) in BANDS.iter().enumerate() {
        let _ = write!(table, "{label:<8}");
        let (mut hits, mut total) = (0, 0);
        for lang in &langs {
            let cell = cells.get(&(*lang, band)).copied().unwrap_or_default();
            let (h, n) = (cell[col], cell[2]);
            hits += h;
            total += n;
            let _ = write!(
                table,
                "{:>17}",
                format!("{:.1}% ({n})", 100.0 * h as f64 / n.max(1) as f64)
            );
        }
        let recall = hits as f64 / total.max(1) as f64;
        let _ = write!(table, "{:>17}", format!("{:.1}% ({total})", 100.0 * recall));
        match target {
            Some(target) => {
                let _ = writeln!(table, "  {:.0}%", target * 100.0);
                if recall < target {
                    failures.push(format!(
                        "{label}: {:.1}% < {:.0}%",
                        recall * 100.0,
                        target * 100.0
                    ));
                }
            }
            None => {
                let _ = writeln!(table, "  -");
            }
        }
    }
    table
}
