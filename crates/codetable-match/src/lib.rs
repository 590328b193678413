//! Matching fingerprints into clone families, on the CPU with rayon.
//!
//! The input is a slice of [`Entry`] records (one per fragment, in a stable global order);
//! the output is a list of [`Family`]: deterministic clone classes. Matching never sees a
//! file or a parser.
//!
//! 1. Exact groups: fragments with the same abstracted hash form a class (Type-1 when the
//!    verbatim hashes agree too, Type-2 otherwise).
//! 2. Near-miss candidates: one representative per class is banded by its MinHash sketch
//!    (LSH); pairs sharing a band are filtered by length ratio and sketch agreement.
//! 3. Verification: each candidate's token streams are compared by longest common
//!    subsequence ([`codetable_fingerprint::similarity`]); pairs at or above
//!    [`MatchConfig::min_similarity`] are edges.
//! 4. Families: leader clustering of classes over edges (each member verified against its
//!    family's leader, so no chaining); a family whose every instance sits inside a
//!    distinct instance of a larger family is subsumed by it.
//!
//! ```
//! use codetable_match::{find_families, CloneType, Entry, MatchConfig};
//! use codetable_fingerprint::Sketch;
//!
//! let sketch = Sketch([7; 64]);
//! let tokens: Vec<u16> = (0..60).collect();
//! let entry = |file| Entry {
//!     exact_hash: 1, renamed_hash: 2, group: 0, sketch: &sketch, tokens: &tokens,
//!     file, first_token: 0, parent: None, lines: 10,
//! };
//! let (families, _stats) = find_families(&[entry(0), entry(1)], &MatchConfig::default());
//! assert_eq!(families.len(), 1);
//! assert_eq!(families[0].clone_type, CloneType::Type1);
//! ```

mod families;
mod near;

pub use families::{CloneType, Family, MatchStats, find_families};
pub use near::Edge;

use codetable_fingerprint::Sketch;

/// One fragment as matching sees it.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// Type-1 hash (verbatim tokens).
    pub exact_hash: u64,
    /// Type-2 hash (abstracted tokens).
    pub renamed_hash: u64,
    /// Only fragments of one group are compared (the caller's choice: a language, or
    /// languages that share code such as C and C++).
    pub group: u32,
    pub sketch: &'a Sketch,
    /// The abstracted token stream of the fragment.
    pub tokens: &'a [u16],
    /// Which file the fragment is in, and where: overlapping fragments of one file are
    /// never clones of each other.
    pub file: u32,
    pub first_token: u32,
    /// Index (into the same slice) of the nearest enclosing fragment.
    pub parent: Option<u32>,
    /// Lines spanned, for ranking which family subsumes which.
    pub lines: u32,
}

impl Entry<'_> {
    fn end_token(&self) -> u32 {
        self.first_token + self.tokens.len() as u32
    }

    fn overlaps(&self, other: &Entry) -> bool {
        self.file == other.file
            && self.first_token < other.end_token()
            && other.first_token < self.end_token()
    }
}

/// How near-miss matching decides.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchConfig {
    /// Minimum token-level similarity (`2·LCS / (|a| + |b|)`) of a near-miss pair.
    /// Default 0.70.
    pub min_similarity: f64,
    /// Whether to look for near-miss (Type-3) clones at all.
    pub near_miss: bool,
    /// LSH: bins per band (the sketch has 64 bins, so `64 / rows_per_band` bands).
    pub rows_per_band: usize,
    /// Minimum number of agreeing sketch bins (of 64) before a pair is verified.
    pub min_agreement: u32,
    /// Most partners one fragment is paired with inside one LSH bucket (nearest in length).
    pub bucket_fanout: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            min_similarity: 0.70,
            near_miss: true,
            rows_per_band: 3,
            min_agreement: 24,
            bucket_fanout: 16,
        }
    }
}
