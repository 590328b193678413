//! Verification of near-miss candidates, in integers: the longest common subsequence of
//! two verification streams, computed bit-parallel (Hyyrö, "Bit-parallel LCS-length
//! computation revisited", 2004) in O(n·m/64) word operations, against the LCS length the
//! pair's lengths and threshold require ([`required_lcs`]). A GPU twin computes the same
//! integers.

use codetable_fingerprint::symbol;
use codetable_fingerprint::{FragmentId, FragmentTable};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Backend, Candidate, GpuError, MatchConfig};

/// A verified near-miss pair: fragments `a < b` (by id) and the length of the longest
/// common subsequence of their streams. `similarity` is [`similarity_milli`] of `lcs`
/// and the two lengths, kept for ordering and display.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    bytemuck::Pod,
    bytemuck::Zeroable,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Edge {
    pub a: FragmentId,
    pub b: FragmentId,
    pub lcs: u32,
    pub similarity: u32,
}

/// The LCS length two streams of `len_a` and `len_b` symbols need for a Dice similarity
/// `2·lcs / (len_a + len_b)` of at least `threshold` thousandths.
pub fn required_lcs(len_a: u32, len_b: u32, threshold: u32) -> u32 {
    ((len_a as u64 + len_b as u64) * threshold as u64).div_ceil(2000) as u32
}

/// Dice similarity in thousandths, rounded down: `⌊2000·lcs / (len_a + len_b)⌋`.
pub fn similarity_milli(lcs: u32, len_a: u32, len_b: u32) -> u32 {
    let total = len_a as u64 + len_b as u64;
    if total == 0 {
        return 1000;
    }
    (2000 * lcs as u64 / total) as u32
}

/// Containment in thousandths, rounded down: the share of the shorter stream that the
/// longer one holds, `⌊1000·lcs / min(len_a, len_b)⌋`.
pub fn containment_milli(lcs: u32, len_a: u32, len_b: u32) -> u32 {
    let shorter = len_a.min(len_b) as u64;
    if shorter == 0 {
        return 0;
    }
    (1000 * lcs as u64 / shorter) as u32
}

/// The LCS a pair needs to be an edge under `config`: Dice similarity at
/// [`MatchConfig::threshold`], or, for an extended copy (the shorter at least
/// `contained_min_tokens` long, the longer at most
/// [`MatchConfig::CONTAINED_MAX_RATIO`] times as long), containment at
/// [`MatchConfig::min_containment`], whichever asks less.
pub fn needed_lcs(len_a: u32, len_b: u32, config: &MatchConfig) -> u32 {
    let (shorter, longer) = (len_a.min(len_b), len_a.max(len_b));
    let dice = required_lcs(len_a, len_b, config.threshold(shorter));
    if shorter < config.contained_min_tokens
        || config.min_containment > 1000
        || longer > shorter.saturating_mul(MatchConfig::CONTAINED_MAX_RATIO)
    {
        return dice;
    }
    let contained = (shorter as u64 * config.min_containment as u64).div_ceil(1000) as u32;
    dice.min(contained)
}

/// The pairs of rows (sorted, `a < b`) whose LCS reaches [`needed_lcs`], as edges in the
/// pairs' order, verified on `backend`. Histograms turn most failing pairs away first on
/// either backend (they never turn away a passing one).
pub(crate) fn verify_rows(
    table: &FragmentTable,
    pairs: &[(u32, u32)],
    config: &MatchConfig,
    backend: &Backend,
) -> Result<Vec<Edge>, GpuError> {
    let rows: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let histograms = Histograms::of(table, &rows);
    match backend {
        // Consecutive pairs sharing their first row reuse its bit masks.
        Backend::Cpu => Ok(pairs
            .par_chunks(256)
            .map_init(Verifier::default, |verifier, chunk| {
                verify_on_cpu(table, &histograms, verifier, chunk, config)
            })
            .flatten_iter()
            .collect()),
        Backend::Gpu { gpu, chunking } => {
            let (kept, needed): (Vec<(u32, u32)>, Vec<u32>) = pairs
                .par_iter()
                .filter_map(|&(a, b)| {
                    let (la, lb) = (table.stream(a).len() as u32, table.stream(b).len() as u32);
                    let needed = needed_lcs(la, lb, config);
                    (histograms.bound(a, b) >= needed).then_some(((a, b), needed))
                })
                .unzip();
            let found = gpu.lcs(table, &kept, &needed, chunking)?;
            Ok(kept
                .iter()
                .zip(found)
                .filter_map(|(&(a, b), lcs)| Some(edge(table, a, b, lcs?)))
                .collect())
        }
    }
}

/// Rows `a` and `b`, whose streams' LCS is `lcs`, as an edge.
fn edge(table: &FragmentTable, a: u32, b: u32, lcs: u32) -> Edge {
    let (la, lb) = (table.stream(a).len() as u32, table.stream(b).len() as u32);
    let (ia, ib) = (table.ids[a as usize], table.ids[b as usize]);
    Edge {
        a: ia.min(ib),
        b: ia.max(ib),
        lcs,
        similarity: similarity_milli(lcs, la, lb),
    }
}

/// The pairs of rows that verify, as edges in the pairs' order, on the CPU with one
/// verifier (consecutive pairs sharing their first row reuse its bit masks).
pub(crate) fn verify_on_cpu(
    table: &FragmentTable,
    histograms: &Histograms,
    verifier: &mut Verifier,
    pairs: &[(u32, u32)],
    config: &MatchConfig,
) -> Vec<Edge> {
    pairs
        .iter()
        .filter_map(|&pair| verify_pair(table, histograms, verifier, pair, config))
        .collect()
}

/// Rows `a` and `b` as an edge when their LCS reaches [`needed_lcs`].
fn verify_pair(
    table: &FragmentTable,
    histograms: &Histograms,
    verifier: &mut Verifier,
    (a, b): (u32, u32),
    config: &MatchConfig,
) -> Option<Edge> {
    let (sa, sb) = (table.stream(a), table.stream(b));
    let (la, lb) = (sa.len() as u32, sb.len() as u32);
    let needed = needed_lcs(la, lb, config);
    if histograms.bound(a, b) < needed {
        return None;
    }
    let lcs = verifier.lcs_at_least(a, sa, sb, needed)?;
    Some(edge(table, a, b, lcs))
}

/// Symbol counts of fragments' streams (seen from each fragment), by one of
/// [`HISTOGRAM_BUCKETS`] buckets of symbols, saturating at 255: the sum over buckets of the
/// smaller count bounds the LCS of two streams from above (unless a bucket saturates in
/// both), so most failing pairs are turned away without reading their streams.
pub(crate) struct Histograms {
    /// Indexed by table row; rows never asked for stay empty.
    counts: Vec<[u8; HISTOGRAM_BUCKETS]>,
}

pub(crate) const HISTOGRAM_BUCKETS: usize = 64;

impl Histograms {
    /// The histograms of `rows` (any order).
    pub(crate) fn of(table: &FragmentTable, rows: &[u32]) -> Histograms {
        let mut counts = vec![[0u8; HISTOGRAM_BUCKETS]; table.len()];
        let mut sorted = rows.to_vec();
        sorted.par_sort_unstable();
        sorted.dedup();
        let computed: Vec<[u8; HISTOGRAM_BUCKETS]> = sorted
            .par_iter()
            .map(|&r| {
                let mut h = [0u8; HISTOGRAM_BUCKETS];
                for (i, &s) in table.stream(r).iter().enumerate() {
                    let bucket = (symbol::relative(i, s) as u32).wrapping_mul(0x9e37_79b1) >> 26;
                    h[bucket as usize] = h[bucket as usize].saturating_add(1);
                }
                h
            })
            .collect();
        for (&r, h) in sorted.iter().zip(computed) {
            counts[r as usize] = h;
        }
        Histograms { counts }
    }

    /// An upper bound of the LCS of rows `a` and `b`.
    pub(crate) fn bound(&self, a: u32, b: u32) -> u32 {
        let (ha, hb) = (&self.counts[a as usize], &self.counts[b as usize]);
        let (sum, saturated) =
            ha.iter()
                .zip(hb)
                .fold((0u32, false), |(sum, saturated), (&x, &y)| {
                    let m = x.min(y);
                    (sum + m as u32, saturated | (m == u8::MAX))
                });
        if saturated { u32::MAX } else { sum }
    }
}

/// The LCS of two fragments' streams as seen from each fragment alone (a name first used
/// before the fragment counts as a first use; see
/// [`symbol::relative_to_fragment`]).
pub fn fragment_lcs(a: &[u16], b: &[u16]) -> u32 {
    let mut verifier = Verifier::default();
    verifier.prepare(a);
    verifier.load_text(b);
    verifier.lcs_of_text(0).unwrap_or(0)
}

/// Verifies candidate pairs: those whose LCS reaches [`needed_lcs`] become edges, sorted.
pub fn verify(table: &FragmentTable, candidates: &[Candidate], config: &MatchConfig) -> Vec<Edge> {
    let index = table.id_index();
    let mut rows: Vec<(u32, u32)> = candidates
        .iter()
        .filter_map(|c| Some((index.row(c.a)?, index.row(c.b)?)))
        .collect();
    // Consecutive pairs sharing their first row reuse its bit masks.
    rows.par_sort_unstable();
    let mut edges =
        verify_rows(table, &rows, config, &Backend::Cpu).expect("the CPU backend cannot fail");
    edges.par_sort_unstable();
    edges
}

/// Compares many pairs of fragment streams, reusing its buffers, and the bit masks of the
/// first fragment while consecutive calls share it (as sorted candidate pairs do): it knows
/// that fragment by its table row.
///
/// Before the bit-parallel pass, each text symbol is looked up once: symbols the pattern
/// lacks are dropped (they cannot change the LCS), and the multiset intersection of the two
/// streams, an upper bound of the LCS, turns most failing pairs away without it.
pub struct Verifier {
    /// The row whose stream the masks were built for.
    prepared: Option<u32>,
    pattern_len: usize,
    words: usize,
    /// The mask row of every symbol the pattern has ([`ABSENT`] for the others).
    row_of: Vec<u32>,
    /// The pattern's distinct symbols, in mask row order.
    distinct: Vec<u16>,
    /// One row of `words` bit masks per distinct pattern symbol.
    masks: Vec<u64>,
    /// Occurrences in the pattern of each mask row's symbol.
    counts: Vec<u32>,
    /// Per mask row, occurrences in the text so far (for the intersection bound).
    seen: Vec<u32>,
    /// The text as mask rows, symbols absent from the pattern left out.
    text: Vec<u32>,
    v: Vec<u64>,
}

const ABSENT: u32 = u32::MAX;

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            prepared: None,
            pattern_len: 0,
            words: 0,
            row_of: vec![ABSENT; 1 << 16],
            distinct: Vec::new(),
            masks: Vec::new(),
            counts: Vec::new(),
            seen: Vec::new(),
            text: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("prepared", &self.prepared)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The LCS of the streams `a` (of row `row`) and `b`, seen from each fragment alone,
    /// when it reaches `needed`; `None` as soon as it cannot.
    pub fn lcs_at_least(&mut self, row: u32, a: &[u16], b: &[u16], needed: u32) -> Option<u32> {
        if (a.len().min(b.len()) as u32) < needed {
            return None;
        }
        if self.prepared != Some(row) {
            self.prepare(a);
            self.prepared = Some(row);
        }
        if self.load_text(b) < needed {
            return None;
        }
        self.lcs_of_text(needed)
    }

    /// Builds the match masks of `pattern`, seen from itself (one bit per position, per
    /// distinct symbol).
    fn prepare(&mut self, pattern: &[u16]) {
        self.prepared = None;
        for &symbol in &self.distinct {
            self.row_of[symbol as usize] = ABSENT;
        }
        self.distinct.clear();
        self.pattern_len = pattern.len();
        self.words = pattern.len().div_ceil(64);
        self.masks.clear();
        self.counts.clear();
        for (i, &symbol) in pattern.iter().enumerate() {
            let symbol = symbol::relative(i, symbol);
            let mut row = self.row_of[symbol as usize];
            if row == ABSENT {
                row = self.distinct.len() as u32;
                self.row_of[symbol as usize] = row;
                self.distinct.push(symbol);
                self.counts.push(0);
                self.masks.resize(self.masks.len() + self.words, 0);
            }
            self.counts[row as usize] += 1;
            self.masks[row as usize * self.words + i / 64] |= 1 << (i % 64);
        }
    }

    /// Loads `text`, seen from itself, as mask rows and returns the size of its multiset
    /// intersection with the pattern.
    fn load_text(&mut self, text: &[u16]) -> u32 {
        self.seen.clear();
        self.seen.resize(self.counts.len(), 0);
        self.text.clear();
        let mut bound = 0;
        for (i, &symbol) in text.iter().enumerate() {
            let row = self.row_of[symbol::relative(i, symbol) as usize];
            if row != ABSENT {
                let seen = &mut self.seen[row as usize];
                bound += (*seen < self.counts[row as usize]) as u32;
                *seen += 1;
                self.text.push(row);
            }
        }
        bound
    }

    /// The LCS of the prepared pattern and the loaded text when it reaches `needed`;
    /// `None` as soon as it cannot (bit-parallel, Hyyrö 2004).
    fn lcs_of_text(&mut self, needed: u32) -> Option<u32> {
        if self.pattern_len == 0 {
            return (needed == 0).then_some(0);
        }
        let (words, tail_bits) = (self.words, self.pattern_len % 64);
        self.v.clear();
        self.v.resize(words, u64::MAX);
        let length = |v: &[u64]| -> u32 {
            v.iter()
                .enumerate()
                .map(|(i, &w)| {
                    if i == words - 1 && tail_bits != 0 {
                        (w | (u64::MAX << tail_bits)).count_zeros()
                    } else {
                        w.count_zeros()
                    }
                })
                .sum()
        };
        let text = &self.text;
        for (k, &row) in text.iter().enumerate() {
            // Each remaining text symbol adds at most one to the LCS.
            if k % 32 == 0 && k > 0 && length(&self.v) + ((text.len() - k) as u32) < needed {
                return None;
            }
            let row = row as usize * words;
            let mask = &self.masks[row..row + words];
            let mut carry = false;
            for (vw, &mw) in self.v.iter_mut().zip(mask) {
                let u = *vw & mw;
                let (sum, c1) = vw.overflowing_add(u);
                let (sum, c2) = sum.overflowing_add(carry as u64);
                carry = c1 || c2;
                *vw = sum | (*vw & !mw);
            }
        }
        let lcs = length(&self.v);
        (lcs >= needed).then_some(lcs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook quadratic dynamic programme, as the reference.
    fn lcs_reference(a: &[u16], b: &[u16]) -> u32 {
        let mut row = vec![0u32; b.len() + 1];
        for &x in a {
            let mut diagonal = 0;
            for (j, &y) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if x == y {
                    diagonal + 1
                } else {
                    above.max(row[j])
                };
                diagonal = above;
            }
        }
        row[b.len()]
    }

    #[test]
    fn bit_parallel_lcs_matches_the_reference() {
        let mut next = crate::testing::xorshift(0x1234_5678);
        for _ in 0..200 {
            let la = (next() % 300) as usize;
            let lb = (next() % 300) as usize;
            let alphabet = 1 + next() % 12;
            let a: Vec<u16> = (0..la).map(|_| (next() % alphabet) as u16).collect();
            let b: Vec<u16> = (0..lb).map(|_| (next() % alphabet) as u16).collect();
            // Symbols under IDENTIFIER look the same from any fragment.
            assert_eq!(fragment_lcs(&a, &b), lcs_reference(&a, &b), "{a:?} / {b:?}");
        }
    }

    #[test]
    fn histograms_bound_the_lcs_from_above() {
        use crate::testing::{spec, table};
        use codetable_fingerprint::Sketch;
        let mut next = crate::testing::xorshift(0x9e37_79b9);
        let specs: Vec<Vec<_>> = (0..40)
            .map(|i| {
                let len = 20 + next() % 900;
                // Few symbols, so that buckets saturate in the long streams.
                let alphabet = if i % 4 == 0 { 2 } else { 30 };
                let stream = (0..len)
                    .map(|_| match next() % 3 {
                        0 => symbol::IDENTIFIER | (next() % 8) as u16,
                        _ => (next() % alphabet) as u16,
                    })
                    .collect();
                vec![spec(i, i, stream, Sketch([0; 64]))]
            })
            .collect();
        let table = table(&specs);
        let rows: Vec<u32> = (0..table.len() as u32).collect();
        let histograms = Histograms::of(&table, &rows);
        let mut tight = 0;
        for &a in &rows {
            for &b in &rows {
                let lcs = fragment_lcs(table.stream(a), table.stream(b));
                let bound = histograms.bound(a, b);
                assert!(bound >= lcs, "rows {a} and {b}: bound {bound} < LCS {lcs}");
                tight += (bound < table.stream(a).len().min(table.stream(b).len()) as u32) as u32;
            }
        }
        assert!(tight > 100, "the bound rules out little: {tight}");
    }

    #[test]
    fn the_integer_contract() {
        assert_eq!(required_lcs(100, 80, 700), 63); // ⌈0.7 · 90⌉
        assert_eq!(required_lcs(100, 100, 1000), 100);
        assert_eq!(similarity_milli(80, 100, 80), 888);
        assert_eq!(containment_milli(80, 100, 80), 1000);
        let a: Vec<u16> = (0..100).collect();
        let mut b = a.clone();
        b.drain(40..60);
        assert_eq!(fragment_lcs(&a, &b), 80);
        assert_eq!(fragment_lcs(&a, &[]), 0);
    }

    #[test]
    fn a_reused_verifier_agrees_with_fresh_comparisons() {
        let streams: Vec<Vec<u16>> = (0..6u16)
            .map(|s| (0..80 + s * 13).map(|i| (i * (s + 3)) % 11).collect())
            .collect();
        let mut verifier = Verifier::default();
        for (ra, a) in streams.iter().enumerate() {
            for b in &streams {
                let fresh = fragment_lcs(a, b);
                let reused = verifier.lcs_at_least(ra as u32, a, b, 0).unwrap();
                assert_eq!(fresh, reused);
                let strict = verifier.lcs_at_least(ra as u32, a, b, fresh + 1);
                assert_eq!(strict, None);
            }
        }
    }

    #[test]
    fn names_used_before_the_fragment_count_as_first_uses() {
        use symbol::IDENTIFIER;
        // `x = y; x + y` with x and y last seen long before the fragment starts.
        let cut = [
            IDENTIFIER | 40,
            1,
            IDENTIFIER | 90,
            2,
            IDENTIFIER | 4,
            3,
            IDENTIFIER | 4,
        ];
        let fresh = [
            IDENTIFIER,
            1,
            IDENTIFIER,
            2,
            IDENTIFIER | 4,
            3,
            IDENTIFIER | 4,
        ];
        assert_eq!(fragment_lcs(&cut, &fresh), 7);
        let other = [
            IDENTIFIER,
            1,
            IDENTIFIER,
            2,
            IDENTIFIER | 2,
            3,
            IDENTIFIER | 2,
        ];
        assert!(fragment_lcs(&cut, &other) < 7);
    }
}
