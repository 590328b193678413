//! The analysis report and its renderers.
//!
//! [`Report`] is the versioned, serialisable result of one `codetable analyze` run (its JSON
//! form is documented in the README); [`render_text`] is the terminal summary and
//! [`render_json`] the machine-readable form. Nothing here parses or matches.
//!
//! ```
//! use codetable_report::{render_json, Report};
//!
//! let report = Report::default();
//! let json = render_json(&report);
//! assert!(json.contains("\"schema_version\": 3"));
//! ```

mod text;

pub use text::render_text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of the JSON schema. Bump it on any change that could break a reader.
pub const SCHEMA_VERSION: u32 = 3;

/// Everything one analysis found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The analysed directory, as given.
    pub root: String,
    pub settings: Settings,
    /// Families ranked by duplicated lines (most first).
    pub families: Vec<Family>,
    /// Files that were not analysed, with the reason.
    pub skipped: Vec<Skipped>,
    /// Files analysed despite syntax errors (tree-sitter recovered), by path.
    pub syntax_errors: Vec<SyntaxErrors>,
    pub stats: Stats,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "codetable".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            root: String::new(),
            settings: Settings::default(),
            families: Vec::new(),
            skipped: Vec::new(),
            syntax_errors: Vec::new(),
            stats: Stats::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The settings the analysis ran with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub min_tokens: u32,
    pub min_lines: u32,
    pub min_similarity: f64,
    pub near_miss: bool,
    /// Languages analysed (all when no `--lang` was given).
    pub languages: Vec<String>,
    pub include_generated: bool,
    pub max_file_size: u64,
    /// How near-miss candidates were chosen: `lsh` or `exhaustive`.
    #[serde(default = "lsh")]
    pub candidates: String,
}

fn lsh() -> String {
    "lsh".into()
}

/// A clone class: code that recurs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// 1-based rank: families that stand alone first, by duplicated lines; then those
    /// subsumed by a containing family.
    pub id: u32,
    /// Stable across runs: 16 hex digits derived from the instances' fragment ids.
    pub key: String,
    /// `T1` (identical but for layout and comments), `T2` (identifiers and literals
    /// abstracted), `T3` (near-miss).
    pub clone_type: String,
    pub similarity: SimilarityRange,
    /// The most common universal category of the instances (`function`, `loop`, ...).
    pub category: String,
    pub language: String,
    /// Lines a refactoring would remove: all instances' lines but the longest instance's.
    pub duplicated_lines: u64,
    /// Distinct files the instances are in.
    pub files: u32,
    /// For near-miss families, the lowest share (0–1) of the shorter of an instance and
    /// the representative that the longer holds: near 1 for an extended copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<f64>,
    /// The instance every other was verified against (index into `instances`).
    pub representative: u32,
    /// The `id` of the family whose instances each hold one of this family's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<u32>,
    /// Nested (`within`) and adding nothing to its container (anything inside an exact
    /// family, a near-miss family inside a near-miss one): not listed on its own and not
    /// counted in the totals.
    pub subsumed: bool,
    pub instances: Vec<Instance>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimilarityRange {
    pub min: f64,
    pub max: f64,
}

/// One occurrence of a pattern.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Path relative to the analysed root, `/`-separated. Bytes of a name that are not
    /// UTF-8 are written `\xHH`; the exact bytes are then in `path_bytes`.
    pub path: String,
    /// The exact bytes of `path`, present only when the path is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    /// 1-based inclusive line range.
    pub start_line: u32,
    pub end_line: u32,
    /// 1-based byte columns: of the first byte, and just past the last byte.
    pub start_col: u32,
    pub end_col: u32,
    /// Byte range in the (decoded) file.
    pub start_byte: u32,
    pub end_byte: u32,
    pub tokens: u32,
    /// The fragment's category (`function`, `loop`, ...), or `statements` for a copied run
    /// of statements.
    pub category: String,
    /// The fragment's stable id (16 hex digits).
    pub fragment: String,
}

/// A file that was not analysed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the analysed root, written as [`Instance::path`] is.
    pub path: String,
    /// The exact bytes of `path`, present only when the path is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub reason: SkipReason,
    /// Human-readable detail.
    pub detail: String,
}

/// Why a file was not analysed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// NUL bytes: not text.
    Binary,
    /// Over `--max-file-size`.
    TooLarge,
    /// Marked generated in its leading comment.
    Generated,
    /// Most of its bytes are in very long lines.
    Minified,
    /// A FIFO, socket or device.
    NotRegular,
    /// A symbolic link not followed, or a dangling one.
    Symlink,
    /// The same file as another path already analysed (a link followed to it).
    SameFile,
    /// It could not be opened or read.
    Unreadable,
    /// Its analysis took longer than `--parse-timeout`.
    ParseTimeout,
    /// The directory walk reported an error there (a loop, a permission error).
    WalkError,
    /// codetable failed on it (a bug: please report it with the file).
    InternalError,
}

impl SkipReason {
    pub const ALL: [SkipReason; 11] = [
        SkipReason::Binary,
        SkipReason::TooLarge,
        SkipReason::Generated,
        SkipReason::Minified,
        SkipReason::NotRegular,
        SkipReason::Symlink,
        SkipReason::SameFile,
        SkipReason::Unreadable,
        SkipReason::ParseTimeout,
        SkipReason::WalkError,
        SkipReason::InternalError,
    ];

    /// The reason named `name` (see [`SkipReason::name`]).
    pub fn from_name(name: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The name used in JSON and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::TooLarge => "too-large",
            SkipReason::Generated => "generated",
            SkipReason::Minified => "minified",
            SkipReason::NotRegular => "not-regular",
            SkipReason::Symlink => "symlink",
            SkipReason::SameFile => "same-file",
            SkipReason::Unreadable => "unreadable",
            SkipReason::ParseTimeout => "parse-timeout",
            SkipReason::WalkError => "walk-error",
            SkipReason::InternalError => "internal-error",
        }
    }
}

/// A file analysed with tree-sitter's error recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntaxErrors {
    /// Path relative to the analysed root, written as [`Instance::path`] is.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub language: String,
    /// ERROR and MISSING nodes in its tree.
    pub error_nodes: u32,
    /// 1-based line of the first of them.
    pub first_error_line: u32,
}

/// Run statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Source files analysed.
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
    pub tokens: u64,
    /// Candidate fragments fingerprinted.
    pub fragments: u64,
    /// Families reported on their own (not subsumed).
    pub families: u64,
    /// Sum of those families' duplicated lines.
    pub duplicated_lines: u64,
    pub skipped_files: u64,
    /// Files analysed despite syntax errors (tree-sitter recovered).
    pub files_with_syntax_errors: u64,
    /// Files analysed that are not valid UTF-8.
    pub files_not_utf8: u64,
    /// Files analysed after decoding them from UTF-16.
    pub files_utf16: u64,
    pub exact_classes: u64,
    pub verified_pairs: u64,
    /// Families nested in another that add nothing to it (listed in the JSON with
    /// `subsumed`, not counted in `families`).
    pub subsumed_families: u64,
    /// Copied runs of statements found inside otherwise different code.
    pub statement_runs: u64,
    /// Per-language files, lines and bytes.
    pub languages: BTreeMap<String, LanguageStats>,
    pub timings_ms: Timings,
    /// Where matching ran (like the timings, not part of the result: every backend gives
    /// the same answers).
    #[serde(default)]
    pub backend: BackendInfo,
    /// What this run did, which depends on what the pattern database already held (like
    /// the timings, it is not part of the result).
    pub work: Work,
}

/// The work of one run: a run with a pattern database re-parses and re-matches only what
/// changed since the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// Files read, parsed and fingerprinted by this run.
    pub files_parsed: u64,
    /// Files whose fingerprints came from the database.
    pub files_reused: u64,
    /// Fragments matched against the others by this run (all of them without a database).
    pub fragments_matched: u64,
    /// Near-miss candidate pairs examined by this run.
    pub candidate_pairs: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageStats {
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
    pub files_with_syntax_errors: u64,
}

/// The backend that matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `cpu` or `gpu`.
    pub name: String,
    /// What was asked for: `auto`, `cpu` or `gpu`.
    pub requested: String,
    /// The GPU adapter, when one ran (`name (api)`, `software` for llvmpipe/lavapipe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Why `auto` or a failing GPU fell back to the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Wall time per stage, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub walk: f64,
    /// Read, parse and fingerprint (parallel).
    pub parse: f64,
    #[serde(rename = "match")]
    pub matching: f64,
    /// Writing the pattern database.
    pub store: f64,
    pub report: f64,
    pub total: f64,
}

/// A relative path as the report writes it: UTF-8 as is, any other byte as `\xHH`, and the
/// exact bytes alongside when they are not UTF-8 (see [`Instance::path_bytes`]).
pub fn report_path(bytes: &[u8]) -> (String, Option<Vec<u8>>) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_string(), None);
    }
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    (out, Some(bytes.to_vec()))
}

/// Writes the report as pretty-printed JSON, streamed (a whole kernel's report is hundreds
/// of megabytes).
pub fn write_json(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// The report as pretty-printed JSON, in memory (see [`write_json`]).
pub fn render_json(report: &Report) -> String {
    let mut out = Vec::new();
    write_json(report, &mut out).expect("a report always serialises");
    String::from_utf8(out).expect("JSON is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_names_fields_as_documented() {
        let mut report = Report::default();
        report.families.push(Family {
            id: 1,
            key: "00000000000000ff".into(),
            clone_type: "T3".into(),
            similarity: SimilarityRange { min: 0.8, max: 0.9 },
            category: "function".into(),
            language: "rust".into(),
            duplicated_lines: 10,
            files: 2,
            containment: Some(0.95),
            representative: 0,
            within: None,
            subsumed: false,
            instances: vec![Instance {
                path: "src/a.rs".into(),
                path_bytes: None,
                start_line: 3,
                end_line: 12,
                start_col: 1,
                end_col: 2,
                start_byte: 40,
                end_byte: 200,
                tokens: 80,
                category: "function".into(),
                fragment: "0000000000000001".into(),
            }],
        });
        let json = render_json(&report);
        for field in [
            "\"families\"",
            "\"instances\"",
            "\"start_line\": 3",
            "\"end_line\": 12",
            "\"clone_type\": \"T3\"",
            "\"match\"",
        ] {
            assert!(json.contains(field), "{field} missing from {json}");
        }
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn paths_that_are_not_utf8_stay_distinct_and_exact() {
        let (a, a_bytes) = report_path(b"r\xe9sum\xe9.py");
        let (b, b_bytes) = report_path(b"r\xe8sum\xe8.py");
        assert_eq!(a, "r\\xE9sum\\xE9.py");
        assert_ne!(a, b);
        assert_eq!(a_bytes.as_deref(), Some(&b"r\xe9sum\xe9.py"[..]));
        assert_eq!(b_bytes.as_deref(), Some(&b"r\xe8sum\xe8.py"[..]));
        assert_eq!(
            report_path("caf\u{e9}.py".as_bytes()),
            ("caf\u{e9}.py".into(), None)
        );
    }
}
