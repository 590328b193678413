//! codetable finds the recurring patterns of a codebase: exact copies, renamed copies and
//! near-miss copies of functions, classes and blocks, grouped into families.
//!
//! This crate is the library facade: it walks a tree, parses and fingerprints every file in
//! parallel (`codetable-syntax`, `codetable-fingerprint`), matches the fragments
//! (`codetable-match`) and returns a [`Report`] (`codetable-report`).
//!
//! ```no_run
//! use codetable::{analyze, AnalyzeOptions};
//!
//! let report = analyze(&AnalyzeOptions::new("path/to/project")).unwrap();
//! for family in &report.families {
//!     println!("{} {} instances", family.clone_type, family.instances.len());
//! }
//! ```

mod analyze;
mod matching;
mod query;
mod source;
mod walk;

pub use analyze::analyze;
pub use codetable_fingerprint::FingerprintConfig;
pub use codetable_match::{Backend, BackendChoice, GpuError, MatchConfig, Strategy};
pub use codetable_report::{Report, SkipReason, render_json, render_text, write_json};
pub use codetable_store::{Database, DatabaseStats, StoreError};
pub use codetable_syntax::Language;
pub use query::{
    PatternIndex, QueryFragment, QueryInput, QueryMatch, QueryOptions, QueryReport,
    fingerprint_input, query,
};
pub use walk::check_glob;

use std::path::PathBuf;
use std::time::Duration;

/// What to analyse and how.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// The directory to analyse.
    pub root: PathBuf,
    /// Restrict to these languages (all when empty).
    pub languages: Vec<Language>,
    /// Gitignore-style globs of paths to leave out, relative to the root.
    pub excludes: Vec<String>,
    /// Analyse files marked generated (`@generated`, `DO NOT EDIT`) or minified too.
    pub include_generated: bool,
    /// Follow symbolic links (loops are detected and skipped).
    pub follow_links: bool,
    /// Files larger than this many bytes are skipped (default 4 MiB).
    pub max_file_size: u64,
    /// Parsing one file longer than this gives up on it (default 20 s).
    pub parse_timeout: Duration,
    pub fingerprint: FingerprintConfig,
    pub matching: MatchConfig,
    /// Look for copied runs of statements inside otherwise different code (default on).
    pub statement_runs: bool,
    /// The pattern database directory (`None`: a run in memory that keeps nothing). A run
    /// with one re-parses only the files that changed and re-matches only their fragments.
    pub database: Option<PathBuf>,
    /// Delete the database's contents first and build it again.
    pub rebuild: bool,
    /// The name of the tree in the database (default: the root's absolute path).
    pub name: Option<String>,
    /// How long to wait for another process using the database.
    pub lock_wait: Duration,
    /// Match the fragments into families (`false` only fingerprints and stores them, as
    /// `codetable index` does).
    pub find_families: bool,
    /// Where near-miss matching runs (default `auto`: a hardware GPU when there is one).
    /// The answers are the same on every backend.
    pub backend: BackendChoice,
    /// Let `auto` and `gpu` use a software GPU adapter (llvmpipe, lavapipe). Default:
    /// whether `CODETABLE_ALLOW_SOFTWARE_GPU=1` is set.
    pub allow_software_gpu: bool,
}

impl AnalyzeOptions {
    /// The default options for `root`.
    pub fn new(root: impl Into<PathBuf>) -> AnalyzeOptions {
        AnalyzeOptions {
            root: root.into(),
            languages: Vec::new(),
            excludes: Vec::new(),
            include_generated: false,
            follow_links: false,
            max_file_size: 4 << 20,
            parse_timeout: Duration::from_secs(20),
            fingerprint: FingerprintConfig::default(),
            matching: MatchConfig::default(),
            statement_runs: true,
            database: None,
            rebuild: false,
            name: None,
            lock_wait: codetable_store::db::DEFAULT_WAIT,
            find_families: true,
            backend: BackendChoice::Auto,
            allow_software_gpu: allow_software_gpu(),
        }
    }

    /// The default database directory of a tree: `.codetable` in its root.
    pub fn default_database(root: &std::path::Path) -> PathBuf {
        root.join(".codetable")
    }

    /// The tree's name in the database.
    pub fn tree_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            std::fs::canonicalize(&self.root)
                .unwrap_or_else(|_| self.root.clone())
                .display()
                .to_string()
        })
    }

    /// Everything that decides a file's fingerprints: stored fingerprints made under other
    /// settings (or by another version of codetable) are not reused.
    pub(crate) fn fingerprint_settings(&self) -> String {
        let mut languages: Vec<&str> = self.languages.iter().map(|l| l.name()).collect();
        languages.sort_unstable();
        format!(
            "codetable {} segment {}; {:?}; languages {languages:?}; generated {}; max size {}",
            env!("CARGO_PKG_VERSION"),
            codetable_store::segment::FORMAT_VERSION,
            self.fingerprint,
            self.include_generated,
            self.max_file_size,
        )
    }

    /// Everything that decides matching: stored edges made under other settings are
    /// recomputed.
    pub(crate) fn match_settings(&self) -> String {
        format!(
            "codetable {}; {:?}; statement runs {}",
            env!("CARGO_PKG_VERSION"),
            self.matching,
            self.statement_runs
        )
    }
}

impl AnalyzeOptions {
    /// Checks that every setting is in its range (the library's twin of the CLI's checks).
    pub fn validate(&self) -> Result<(), AnalyzeError> {
        let bad = |what: &str, why: &str| Err(AnalyzeError::InvalidOption(format!("{what} {why}")));
        if self.max_file_size == 0 {
            return bad("max_file_size", "must be at least 1 byte");
        }
        if self.parse_timeout.is_zero() {
            return bad("parse_timeout", "must be more than zero");
        }
        if self.fingerprint.min_tokens < MIN_TOKENS_FLOOR {
            return bad(
                "min_tokens",
                &format!("must be at least {MIN_TOKENS_FLOOR}"),
            );
        }
        if self.fingerprint.min_lines == 0 {
            return bad("min_lines", "must be at least 1");
        }
        let s = self.matching.min_similarity;
        if !(1..=1000).contains(&s) {
            return bad("min_similarity", "must be in 1..=1000 thousandths");
        }
        Ok(())
    }
}

/// Whether `CODETABLE_ALLOW_SOFTWARE_GPU=1` is set: a software adapter is used only then.
pub fn allow_software_gpu() -> bool {
    std::env::var_os("CODETABLE_ALLOW_SOFTWARE_GPU").is_some_and(|v| v == "1")
}

/// The smallest `min_tokens` accepted: a fragment needs a few k-grams to be sketched, and
/// anything shorter is a line, not a pattern.
pub const MIN_TOKENS_FLOOR: u32 = 10;

/// Why an analysis could not run at all. Problems with single files are never errors:
/// they are listed in [`Report::skipped`].
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot analyse {0}: {1}")]
    Root(PathBuf, String),
    #[error("invalid --exclude glob {0:?}: {1}")]
    BadGlob(String, String),
    #[error("invalid setting: {0}")]
    InvalidOption(String),
    #[error("the tree is too large for one run: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Database(#[from] codetable_store::StoreError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl AnalyzeError {
    /// Whether the error is the caller's mistake (a usage error) rather than the tree's.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            AnalyzeError::BadGlob(..) | AnalyzeError::InvalidOption(_)
        )
    }
}
