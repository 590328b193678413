//! Matching a [`FragmentTable`] into clone families, on the CPU with rayon, in stages whose
//! inputs and outputs are plain, serialisable records addressed by fragment id:
//!
//! 1. [`statement_runs`]: copied runs of sibling statements (inside otherwise different
//!    functions) become rows of their own.
//! 2. [`exact_classes`]: fragments with the same Type-2 key form a class (Type-1 when their
//!    Type-1 keys agree too).
//! 3. Candidates ([`Strategy`]): pairs of class representatives that fit each other's
//!    length and agree on enough sketch bins, and, with [`Strategy::Lsh`], share an LSH
//!    band of their sketches ([`candidates`]); [`Strategy::Exhaustive`] asks every pair.
//!    Whether a pair is a candidate depends on the pair alone, so a fragment added later
//!    meets exactly the partners a cold run would give it.
//! 4. [`verify()`]: candidates whose streams' longest common subsequence reaches
//!    [`needed_lcs`] become [`Edge`]s.
//!
//! Stages 3 and 4 run on a [`Backend`]: the CPU (rayon) or the GPU (wgpu compute shaders
//! in `shaders/`, each beside its CPU twin). Both work in integers and give the same
//! edges, so the families do not depend on where they were computed.
//! 5. [`families`]: star clustering of classes over edges (every member verified against
//!    its family's representative, each joining its best match), and nesting: a family
//!    whose instances each sit inside a distinct instance of another is linked to it.
//!
//! [`find_families`] runs stages 2–5.
//!
//! ```
//! use codetable_fingerprint::{FileFingerprint, Fragment, FragmentTable, Hash128, Sketch, Span};
//! use codetable_match::{find_families, CloneType, MatchConfig};
//! use codetable_syntax::Category;
//!
//! let fragment = Fragment {
//!     category: Category::Function,
//!     span: Span { end_token: 60, start_line: 1, end_line: 10, ..Span::default() },
//!     exact_hash: Hash128 { lo: 1, hi: 1 },
//!     renamed_hash: Hash128 { lo: 2, hi: 2 },
//!     subtree_id: 0,
//!     sketch: Sketch([7; 64]),
//!     parent: None,
//!     content_start: None,
//! };
//! let file = FileFingerprint {
//!     symbols: (0..60).collect(),
//!     fragments: vec![fragment],
//!     ..FileFingerprint::default()
//! };
//! let mut table = FragmentTable::default();
//! table.push_file(0, b"a.rs", 0, &file).unwrap();
//! table.push_file(1, b"b.rs", 0, &file).unwrap();
//! let (families, _stats) = find_families(&table, &MatchConfig::default());
//! assert_eq!(families.len(), 1);
//! assert_eq!(families[0].clone_type, CloneType::Type1);
//! ```

mod backend;
mod exhaustive;
mod families;
mod gpu;
mod near;
mod runs;
mod scan;
mod verify;

pub use backend::{Backend, BackendChoice};
pub use families::{CloneType, Family, Previous, families, families_since};
pub use gpu::{AdapterSummary, CANDIDATES_WGSL, Chunking, Gpu, GpuError, LCS_WGSL, QUERY_WGSL};
pub use near::{Candidate, candidates, near_edges, near_edges_touching, representatives};
pub use runs::{RunConfig, RunFile, statement_runs};
pub use scan::{Hit, Probe, StoredSketches, hits};
pub use verify::{
    Edge, Verifier, containment_milli, fragment_lcs, needed_lcs, required_lcs, similarity_milli,
    verify,
};

use codetable_fingerprint::{FragmentId, FragmentTable};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Fragments with equal Type-2 keys (and group): class `c` is
/// `members[starts[c]..starts[c + 1]]`, ascending by id; its first member represents it.
/// Classes are ordered by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactClasses {
    pub members: Vec<FragmentId>,
    pub starts: Vec<u32>,
}

impl ExactClasses {
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn class(&self, c: usize) -> &[FragmentId] {
        &self.members[self.starts[c] as usize..self.starts[c + 1] as usize]
    }
}

/// Groups the table's fragments by group and Type-2 key.
pub fn exact_classes(table: &FragmentTable) -> ExactClasses {
    let mut order: Vec<u32> = (0..table.len() as u32).collect();
    let key = |r: u32| {
        let r = r as usize;
        (table.kinds[r].group, table.renamed[r], table.ids[r])
    };
    order.par_sort_unstable_by_key(|&r| key(r));
    let mut starts = vec![0u32];
    for (k, w) in order.windows(2).enumerate() {
        let (a, b) = (key(w[0]), key(w[1]));
        if (a.0, a.1) != (b.0, b.1) {
            starts.push(k as u32 + 1);
        }
    }
    if !order.is_empty() {
        starts.push(order.len() as u32);
    }
    ExactClasses {
        members: order.iter().map(|&r| table.ids[r as usize]).collect(),
        starts,
    }
}

/// Counters of one matching run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchStats {
    /// Fragments matched (statement runs included).
    pub fragments: u64,
    /// Distinct abstracted token streams (exact classes).
    pub exact_classes: u64,
    /// Near-miss candidate pairs produced by LSH.
    pub candidate_pairs: u64,
    /// Candidate pairs that passed verification.
    pub verified_pairs: u64,
    /// Families nested in another that add nothing to it (kept, linked, `subsumed`).
    pub subsumed_families: u64,
}

/// Stages 2–5 on one table, on the CPU.
pub fn find_families(table: &FragmentTable, config: &MatchConfig) -> (Vec<Family>, MatchStats) {
    let classes = exact_classes(table);
    let (pairs, edges) = if config.near_miss {
        near_edges(table, &classes, config, &Backend::Cpu).expect("the CPU backend cannot fail")
    } else {
        (0, Vec::new())
    };
    let families = families(table, &classes, &edges, config);
    let stats = MatchStats {
        fragments: table.len() as u64,
        exact_classes: classes.len() as u64,
        candidate_pairs: pairs,
        verified_pairs: edges.len() as u64,
        subsumed_families: families.iter().filter(|f| f.subsumed).count() as u64,
    };
    (families, stats)
}

/// How near-miss candidates are chosen. Both keep a pair only when the lengths fit and
/// enough sketch bins agree; they differ in which pairs they ask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Pairs that share an LSH band of their sketches: fast, and misses a few pairs whose
    /// agreeing bins share no band.
    #[default]
    Lsh,
    /// Every pair in a group: no LSH misses, quadratic work (what a GPU is for).
    Exhaustive,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Lsh => "lsh",
            Strategy::Exhaustive => "exhaustive",
        }
    }
}

/// How near-miss matching decides. Similarities are in thousandths.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchConfig {
    /// Minimum Dice similarity (`2·LCS / (|a| + |b|)`, thousandths) of a near-miss pair of
    /// fragments of [`SMALL_FRAGMENT`](Self::SMALL_FRAGMENT) tokens or more; smaller ones
    /// need more ([`MatchConfig::threshold`]). Default 700.
    pub min_similarity: u32,
    /// Minimum containment (thousandths of the shorter stream found in the longer) that
    /// makes an extended copy a near-miss pair even when its Dice similarity is too low
    /// (a function that grew up to twice its length between releases). Above 1000 turns it off. Default 900.
    pub min_containment: u32,
    /// Whether to look for near-miss (Type-3) clones at all.
    pub near_miss: bool,
    /// How near-miss candidates are chosen (default [`Strategy::Lsh`]).
    pub candidates: Strategy,
    /// LSH: bins per band (the sketch has 64 bins, so `64 / rows_per_band` bands).
    pub rows_per_band: usize,
    /// Minimum number of agreeing sketch bins (of 64) before a pair of similar lengths is
    /// verified; pairs of unequal lengths need less ([`MatchConfig::agreement_needed`]).
    pub min_agreement: u32,
    /// The most a fragment's threshold is raised for being small (thousandths; see
    /// [`MatchConfig::threshold`]). Default 50.
    pub small_penalty: u32,
    /// The shorter fragment of an extended copy has at least this many tokens (default 100).
    pub contained_min_tokens: u32,
}

impl MatchConfig {
    /// Fragments of at least this many tokens are held to `min_similarity` alone.
    pub const SMALL_FRAGMENT: u32 = 150;
    /// The longer fragment of an extended copy has at most this many times the tokens.
    pub const CONTAINED_MAX_RATIO: u32 = 2;

    /// The similarity (thousandths) a pair needs when its shorter fragment has `tokens`
    /// tokens: `min_similarity` from [`SMALL_FRAGMENT`](Self::SMALL_FRAGMENT) tokens up,
    /// one thousandth more per token below, by up to `small_penalty`. Short token streams agree by chance far more
    /// often than long ones: on the kernel's `fs/`, most near-miss pairs of unrelated code
    /// were 50–70-token blocks at 0.70–0.73.
    pub fn threshold(&self, tokens: u32) -> u32 {
        let shortfall = Self::SMALL_FRAGMENT.saturating_sub(tokens);
        (self.min_similarity + shortfall.min(self.small_penalty)).min(1000)
    }

    /// How many times longer than `shorter` tokens a partner may be and still pass.
    pub fn max_length(&self, shorter: u32) -> u32 {
        let t = self.threshold(shorter).max(1) as u64;
        // Dice can reach t only if longer ≤ shorter·(2000 − t)/t.
        let dice = (shorter as u64 * (2000 - t) / t) as u32;
        if shorter >= self.contained_min_tokens && self.min_containment <= 1000 {
            dice.max(shorter.saturating_mul(Self::CONTAINED_MAX_RATIO))
        } else {
            dice
        }
    }

    /// Agreeing sketch bins a pair of `shorter` and `longer` tokens needs: `min_agreement`,
    /// lowered for unequal lengths to 85% of the Jaccard similarity an extended copy would
    /// have (`shorter / longer`).
    pub fn agreement_needed(&self, shorter: u32, longer: u32) -> u32 {
        let contained = (64 * 85 * shorter as u64 / (100 * longer.max(1) as u64)) as u32;
        self.min_agreement.min(contained.max(12))
    }

    /// The longest partner of a `shorter`-token fragment that still needs all of
    /// `min_agreement` (from [`agreement_needed`](Self::agreement_needed), without its
    /// division).
    pub(crate) fn full_agreement_until(&self, shorter: u32) -> u32 {
        (64 * 85 * shorter as u64 / (100 * self.min_agreement.max(1) as u64)).min(u32::MAX as u64)
            as u32
    }
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            min_similarity: 700,
            min_containment: 900,
            near_miss: true,
            candidates: Strategy::Lsh,
            rows_per_band: 2,
            min_agreement: 28,
            small_penalty: 50,
            contained_min_tokens: 100,
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small synthetic tables for the stages' tests.

    use codetable_fingerprint::{FileFingerprint, Fragment, FragmentTable, Hash128, Sketch, Span};
    use codetable_syntax::Category;

    /// One synthetic fragment: keys, stream and sketch, and where it is nested.
    pub struct Spec {
        pub exact: u64,
        pub renamed: u64,
        pub stream: Vec<u16>,
        pub sketch: Sketch,
        /// Index of the enclosing spec in the same file (it must come earlier).
        pub parent: Option<usize>,
    }

    pub fn spec(exact: u64, renamed: u64, stream: Vec<u16>, sketch: Sketch) -> Spec {
        Spec {
            exact,
            renamed,
            stream,
            sketch,
            parent: None,
        }
    }

    /// A deterministic pseudo-random source (xorshift64).
    pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// A deterministic pseudo-random stream.
    pub fn stream(seed: u16, len: u16) -> Vec<u16> {
        (0..len)
            .map(|i| i.wrapping_mul(31).wrapping_add(seed) % 97)
            .collect()
    }

    /// A table with one file per group of specs: a nested spec's stream must be a part of
    /// its parent's (it is placed at the parent's start).
    pub fn table(files: &[Vec<Spec>]) -> FragmentTable {
        let mut table = FragmentTable::default();
        for (f, specs) in files.iter().enumerate() {
            let mut fingerprint = FileFingerprint::default();
            let mut starts = Vec::new();
            for spec in specs {
                let first = match spec.parent {
                    Some(p) => starts[p],
                    None => fingerprint.symbols.len() as u32,
                };
                if spec.parent.is_none() {
                    fingerprint.symbols.extend_from_slice(&spec.stream);
                }
                starts.push(first);
                let end = first + spec.stream.len() as u32;
                fingerprint.fragments.push(Fragment {
                    category: Category::Function,
                    span: Span {
                        first_token: first,
                        end_token: end,
                        start_line: first + 1,
                        end_line: end,
                        ..Span::default()
                    },
                    exact_hash: Hash128 {
                        lo: spec.exact,
                        hi: 0,
                    },
                    renamed_hash: Hash128 {
                        lo: spec.renamed,
                        hi: 0,
                    },
                    subtree_id: 0,
                    sketch: spec.sketch,
                    parent: spec.parent.map(|p| p as u32),
                    content_start: None,
                });
            }
            table
                .push_file(f as u32, format!("f{f}").as_bytes(), 0, &fingerprint)
                .unwrap();
        }
        table
    }
}
