//! Every language's fixtures (`fixtures/<language>/`): `original` and `copy` hold one
//! function copied with renames and edits, `unrelated` holds different code. The families
//! found are snapshotted in `fixtures/expected.txt` (regenerate with `UPDATE_EXPECT=1`).

use std::path::{Path, PathBuf};

use codetable::{AnalyzeOptions, Language, Report, analyze};
use codetable_fingerprint::{FingerprintConfig, Fingerprinter};
use codetable_syntax::{Detection, SyntaxParser, TokenClass};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn snapshot(report: &Report) -> String {
    let mut out = String::new();
    for family in &report.families {
        let instances: Vec<String> = family
            .instances
            .iter()
            .map(|i| format!("{}:{}-{}", i.path, i.start_line, i.end_line))
            .collect();
        let nesting = match (family.within, family.subsumed) {
            (Some(within), true) => format!(" (part of #{within})"),
            (Some(within), false) => format!(" (inside #{within})"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "#{} {} {} {}{nesting}\n",
            family.id,
            family.clone_type,
            family.category,
            instances.join(" ")
        ));
    }
    out
}

#[test]
fn fixtures_match_their_snapshot() {
    let report = analyze(&AnalyzeOptions::new(fixtures())).unwrap();
    assert_eq!(report.stats.files, 47);
    assert_eq!(report.stats.skipped_files, 0);
    let actual = snapshot(&report);
    let expected_path = fixtures().join("expected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(actual, expected, "run with UPDATE_EXPECT=1 to accept");
}

#[test]
fn every_language_finds_its_copy_and_nothing_unrelated() {
    let report = analyze(&AnalyzeOptions::new(fixtures())).unwrap();
    for family in &report.families {
        for instance in &family.instances {
            assert!(
                !instance.path.contains("unrelated"),
                "unrelated code reported as a clone: {instance:?}"
            );
        }
    }
    for language in Language::ALL {
        let dir = format!("{}/", language.name());
        let found = report.families.iter().any(|f| {
            let here = |name: &str| {
                f.instances
                    .iter()
                    .any(|i| i.path.starts_with(&dir) && i.path.contains(name))
            };
            here("original.") && here("copy.")
        });
        assert!(found, "{}: copy not found", language.name());
    }
}

#[test]
fn the_same_tree_gives_the_same_report() {
    let strip = |mut report: Report| {
        report.stats.timings_ms = Default::default();
        codetable::render_json(&report)
    };
    let first = strip(analyze(&AnalyzeOptions::new(fixtures())).unwrap());
    let second = strip(analyze(&AnalyzeOptions::new(fixtures())).unwrap());
    assert_eq!(first, second);
}

#[test]
fn language_filter_and_exact_only_mode() {
    let mut options = AnalyzeOptions::new(fixtures());
    options.languages = vec![Language::Rust];
    let report = analyze(&options).unwrap();
    assert_eq!(report.stats.files, 3);
    let standing = |report: &Report| report.families.iter().filter(|f| !f.subsumed).count();
    assert_eq!(standing(&report), 1);
    options.matching.near_miss = false;
    let report = analyze(&options).unwrap();
    assert_eq!(
        standing(&report),
        0,
        "the copy is edited: not an exact clone"
    );
}

/// Every fixture's fragments (category, lines, tokens, whether declarative) and token
/// classes, snapshotted in `fixtures/fragments.txt`: a registry change that drops or
/// re-labels code (a body registered as an import, say) shows up here.
#[test]
fn fixture_fragments_and_token_classes_match_their_snapshot() {
    let mut paths: Vec<PathBuf> = Language::ALL
        .iter()
        .flat_map(|l| std::fs::read_dir(fixtures().join(l.name())).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let config = FingerprintConfig {
        min_tokens: 10,
        min_lines: 2,
    };
    let (mut parser, mut fingerprinter) = (SyntaxParser::default(), Fingerprinter::default());
    let mut actual = String::new();
    for path in paths {
        let source = std::fs::read(&path).unwrap();
        let language = Detection::from_file_name(path.file_name().unwrap())
            .unwrap()
            .resolve(&source);
        let tree = parser.parse(language, &source).unwrap();
        assert!(!tree.has_errors, "{}: syntax errors", path.display());
        let count = |class| tree.tokens.iter().filter(|t| t.class == class).count();
        let relative = path.strip_prefix(fixtures()).unwrap().display().to_string();
        actual.push_str(&format!(
            "{relative} ({}): {} tokens: {} identifiers, {} literals\n",
            language.name(),
            tree.tokens.len(),
            count(TokenClass::Identifier),
            count(TokenClass::Literal),
        ));
        for f in fingerprinter.fingerprint(tree, &source, &config).fragments {
            actual.push_str(&format!(
                "    {} {}-{} {} tokens{}\n",
                f.category.name(),
                f.span.start_line,
                f.span.end_line,
                f.token_count(),
                if f.is_declarative() {
                    " declarative"
                } else {
                    ""
                }
            ));
        }
    }
    let expected_path = fixtures().join("fragments.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(actual, expected, "run with UPDATE_EXPECT=1 to accept");
}
