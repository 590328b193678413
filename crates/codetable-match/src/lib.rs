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
//!    [`MatchConfig::threshold`] (`min_similarity`, raised for small fragments) are edges.
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
    /// Minimum token-level similarity (`2·LCS / (|a| + |b|)`) of a near-miss pair of
    /// fragments of 150 tokens or more; smaller ones need more ([`MatchConfig::threshold`]).
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

impl MatchConfig {
    /// The similarity a pair needs when its smaller fragment has `tokens` tokens:
    /// `min_similarity` from [`SMALL_FRAGMENT`](Self::SMALL_FRAGMENT) tokens up, rising
    /// linearly by up to [`SMALL_PENALTY`](Self::SMALL_PENALTY) as fragments shrink towards
    /// 50 tokens. Short token streams agree by chance far more often than long ones: on the
    /// kernel's `fs/`, most near-miss pairs of unrelated code were 50–70-token blocks at
    /// 0.70–0.73.
    pub fn threshold(&self, tokens: usize) -> f64 {
        let shortfall = (Self::SMALL_FRAGMENT.saturating_sub(tokens)) as f64;
        let raise = Self::SMALL_PENALTY * (shortfall / (Self::SMALL_FRAGMENT - 50) as f64).min(1.0);
        (self.min_similarity + raise).min(1.0)
    }

    /// Fragments of at least this many tokens are held to `min_similarity` alone.
    pub const SMALL_FRAGMENT: usize = 150;
    /// The most a small fragment's threshold is raised.
    pub const SMALL_PENALTY: f64 = 0.10;
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            min_similarity: 0.70,
            near_miss: true,
            rows_per_band: 3,
            min_agreement: 28,
            bucket_fanout: 16,
        }
    }
}
