//! Clone-detection recall on mutated copies of real functions, per clone type and language.
//!
//! Real code in five languages (gathered by `scripts/recall-corpus.sh` from what the
//! machine has: crates in cargo's registry, Python's standard library, npm, the JDK) is
//! analysed together with one mutated copy of each of up to 80 functions per language; a
//! mutant counts as found when a reported family holds both it and its original. Run with
//! `--nocapture` to see the table.

#[path = "recall/backends.rs"]
mod backends;
#[path = "recall/corpus.rs"]
mod corpus;
#[path = "recall/mutate.rs"]
mod mutate;

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use backends::analyze_on_both;
use codetable::{Report, Strategy};
use corpus::source_files;
use mutate::{
    DIALECTS, Dialect, Function, Mutation, Rng, donor_statements, functions, mutant_file, mutate,
};

const PER_LANGUAGE: usize = 80;

const MUTATIONS: &[(Mutation, f64)] = &[
    (Mutation::Layout, 1.00),
    (Mutation::Rename, 0.99),
    (Mutation::Edit(0.10), 0.97),
    (Mutation::Edit(0.25), 0.92),
    (Mutation::Edit(0.40), 0.80),
    (Mutation::Reorder, 0.90),
];

fn corpus() -> PathBuf {
    corpus::prepared("CODETABLE_RECALL_CORPUS", "recall-corpus")
}

/// Functions worth mutating: at least 8 lines, 6 simple statements and 70 tokens.
fn pick_functions(dialect: &Dialect, root: &Path) -> Vec<Function> {
    let mut all = Vec::new();
    for path in source_files(root, dialect.extension) {
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        all.extend(
            functions(dialect, &relative, &source)
                .into_iter()
                .filter(|f| {
                    let lines = f.end_line - f.start_line + 1;
                    (8..=150).contains(&lines) && f.statements.len() >= 6 && f.tokens >= 70
                }),
        );
    }
    let stride = (all.len() / PER_LANGUAGE).max(1);
    all.into_iter().step_by(stride).take(PER_LANGUAGE).collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Whether some family holds both the original and the mutant's function, or fragments
/// enclosing both (a method whose class is copied whole is reported as the class).
fn found(report: &Report, f: &Function, mutant_path: &str, mutant_line: u32) -> bool {
    let original = format!("corpus/{}", f.path);
    report.families.iter().any(|family| {
        family
            .instances
            .iter()
            .any(|i| i.path == original && i.start_line <= f.start_line && i.end_line >= f.end_line)
            && family
                .instances
                .iter()
                .any(|i| i.path == mutant_path && i.start_line <= mutant_line)
    })
}

#[test]
fn recall_on_mutated_real_functions() {
    let corpus = corpus();
    let mut table = String::new();
    let mut totals: HashMap<String, (usize, usize)> = HashMap::new();
    let _ = writeln!(
        table,
        "{:<28} {}",
        "mutation",
        DIALECTS
            .iter()
            .map(|d| format!("{:>12}", d.language.name()))
            .collect::<String>()
    );
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); MUTATIONS.len()];
    let mut misses: Vec<String> = Vec::new();
    for dialect in DIALECTS {
        let source = corpus.join(dialect.language.name());
        let picked = pick_functions(dialect, &source);
        assert!(
            picked.len() >= 40,
            "{}: only {} functions",
            dialect.language.name(),
            picked.len()
        );
        let donors: Vec<Vec<String>> = picked.iter().map(donor_statements).collect();
        let work = tempfile::tempdir().unwrap();
        copy_tree(&source, &work.path().join("corpus"));
        for (row, &(mutation, _)) in MUTATIONS.iter().enumerate() {
            let mutants = work.path().join("mutants");
            let _ = std::fs::remove_dir_all(&mutants);
            std::fs::create_dir_all(&mutants).unwrap();
            let mut expected = Vec::new();
            for (k, f) in picked.iter().enumerate() {
                // Donor statements come from the other functions.
                let pool: Vec<String> = donors
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .flat_map(|(_, d)| d.iter().cloned())
                    .collect();
                let mut rng = Rng::new(k as u64 * 7919 + row as u64);
                let text = mutate(dialect, f, mutation, &pool, &mut rng);
                let (file, line) = mutant_file(dialect, f, &text);
                let name = format!("mutants/m{k}.{}", dialect.extension);
                std::fs::write(work.path().join(&name), file).unwrap();
                expected.push((name, line));
            }
            let report = analyze_on_both(work.path(), &[Strategy::Lsh, Strategy::Exhaustive]);
            let missed: Vec<String> = picked
                .iter()
                .zip(&expected)
                .filter(|(f, (path, line))| !found(&report, f, path, *line))
                .map(|(f, (path, _))| {
                    let mut line = format!("{}:{} -> {path}", f.path, f.start_line);
                    if std::env::var_os("CODETABLE_RECALL_DEBUG").is_some() {
                        let original = format!("corpus/{}", f.path);
                        for family in &report.families {
                            if family.instances.iter().any(|i| {
                                i.path == *path
                                    || (i.path == original
                                        && i.start_line <= f.start_line
                                        && i.end_line >= f.end_line)
                            }) {
                                let _ = write!(
                                    line,
                                    "\n      family {} {} {:?}:",
                                    family.id, family.clone_type, family.similarity
                                );
                                for i in &family.instances {
                                    let _ =
                                        write!(line, " {}:{}-{}", i.path, i.start_line, i.end_line);
                                }
                            }
                        }
                    }
                    line
                })
                .collect();
            if !missed.is_empty() {
                misses.push(format!(
                    "{} {}: {}",
                    dialect.language.name(),
                    mutation.label(),
                    missed.join(", ")
                ));
            }
            let hits = picked.len() - missed.len();
            let total = totals.entry(mutation.label()).or_default();
            total.0 += hits;
            total.1 += picked.len();
            rows[row].push(format!(
                "{:>5.1}% ({:>2})",
                100.0 * hits as f64 / picked.len() as f64,
                picked.len()
            ));
        }
    }
    let mut failures = Vec::new();
    for (row, &(mutation, target)) in MUTATIONS.iter().enumerate() {
        let (hits, n) = totals[&mutation.label()];
        let recall = hits as f64 / n as f64;
        let _ = writeln!(
            table,
            "{:<28} {}   all {:>5.1}% (target {:.0}%)",
            mutation.label(),
            rows[row]
                .iter()
                .map(|c| format!("{c:>12}"))
                .collect::<String>(),
            recall * 100.0,
            target * 100.0
        );
        if recall < target {
            failures.push(format!(
                "{}: {:.1}% < {:.0}%",
                mutation.label(),
                recall * 100.0,
                target * 100.0
            ));
        }
    }
    println!("{table}");
    println!(
        "missed (corpus path:line -> mutant):\n{}",
        misses.join("\n")
    );
    assert!(
        failures.is_empty(),
        "recall below target:\n{}\n{table}",
        failures.join("\n")
    );
}
