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
//! assert!(json.contains("\"schema_version\": 1"));
//! ```

mod text;

pub use text::render_text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of the JSON schema. Bump it on any change that could break a reader.
pub const SCHEMA_VERSION: u32 = 1;

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
}

/// A clone class: code that recurs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// 1-based rank.
    pub id: u32,
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
    /// Path relative to the analysed root, `/`-separated.
    pub path: String,
    /// 1-based inclusive line range.
    pub start_line: u32,
    pub end_line: u32,
    pub tokens: u32,
    pub category: String,
}

/// A file that was not analysed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the analysed root.
    pub path: String,
    /// A short machine-readable reason: `binary`, `too-large`, `generated`, `minified`,
    /// `not-regular`, `symlink`, `unreadable`, `parse-timeout`, `walk-error`.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
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
    pub families: u64,
    /// Sum of the families' duplicated lines.
    pub duplicated_lines: u64,
    pub skipped_files: u64,
    /// Files analysed despite syntax errors (tree-sitter recovered).
    pub files_with_syntax_errors: u64,
    /// Files analysed that are not valid UTF-8.
    pub files_not_utf8: u64,
    pub exact_classes: u64,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
    pub subsumed_families: u64,
    /// Per-language files, lines and bytes.
    pub languages: BTreeMap<String, LanguageStats>,
    pub timings_ms: Timings,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageStats {
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
}

/// Wall time per stage, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub walk: f64,
    /// Read, parse and fingerprint (parallel).
    pub parse: f64,
    #[serde(rename = "match")]
    pub matching: f64,
    pub report: f64,
    pub total: f64,
}

/// The report as pretty-printed JSON.
pub fn render_json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_names_fields_as_documented() {
        let mut report = Report::default();
        report.families.push(Family {
            id: 1,
            clone_type: "T3".into(),
            similarity: SimilarityRange { min: 0.8, max: 0.9 },
            category: "function".into(),
            language: "rust".into(),
            duplicated_lines: 10,
            files: 2,
            instances: vec![Instance {
                path: "src/a.rs".into(),
                start_line: 3,
                end_line: 12,
                tokens: 80,
                category: "function".into(),
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
}
