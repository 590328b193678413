//! Verification of near-miss candidates, in integers: the longest common subsequence of
//! two verification streams, computed bit-parallel (Hyyrö, "Bit-parallel LCS-length
//! computation revisited", 2004) in O(n·m/64) word operations, against the LCS length the
//! pair's lengths and threshold require ([`required_lcs`]). A GPU twin computes the same
//! integers.

use codetable_fingerprint::symbol;
use codetable_fingerprint::{FragmentId, FragmentTable};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Candidate, MatchConfig};

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

/// Rows `a` and `b` as an edge when their LCS reaches [`needed_lcs`].
pub(crate) fn verify_pair(
    table: &FragmentTable,
    verifier: &mut Verifier,
    a: u32,
    b: u32,
    config: &MatchConfig,
) -> Option<Edge> {
    let (sa, sb) = (table.stream(a), table.stream(b));
    let (la, lb) = (sa.len() as u32, sb.len() as u32);
    let lcs = verifier.lcs_at_least(a, sa, sb, needed_lcs(la, lb, config))?;
    let (ia, ib) = (table.ids[a as usize], table.ids[b as usize]);
    Some(Edge {
        a: ia.min(ib),
        b: ia.max(ib),
        lcs,
        similarity: similarity_milli(lcs, la, lb),
    })
}

/// Length of the longest common subsequence of `a` and `b`.
pub fn lcs_len(a: &[u16], b: &[u16]) -> u32 {
    let mut verifier = Verifier::default();
    verifier.prepare(a);
    verifier.lcs_of_prepared(b, 0).unwrap_or(0)
}

/// The LCS of two fragments' streams as seen from each fragment alone (a name first used
/// before the fragment counts as a first use; see
/// [`symbol::relative_to_fragment`]).
pub fn fragment_lcs(a: &[u16], b: &[u16]) -> u32 {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    symbol::relative_to_fragment(a, &mut ra);
    symbol::relative_to_fragment(b, &mut rb);
    lcs_len(&ra, &rb)
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
    let mut edges: Vec<Edge> = rows
        .into_par_iter()
        .map_init(Verifier::default, |verifier, (a, b)| {
            verify_pair(table, verifier, a, b, config)
        })
        .flatten()
        .collect();
    edges.par_sort_unstable();
    edges
}

/// Compares many pairs of fragment streams, reusing its buffers, and the bit masks of the
/// first fragment while consecutive calls share it (as sorted candidate pairs do): it knows
/// that fragment by its table row.
#[derive(Default)]
pub struct Verifier {
    /// The row whose stream the masks were built for.
    prepared: Option<u32>,
    pattern_len: usize,
    words: usize,
    /// Open-addressing table from symbol (+1; 0 is empty) to its mask row.
    keys: Vec<u32>,
    rows: Vec<u32>,
    shift: u32,
    /// One row of `words` bit masks per distinct pattern symbol.
    masks: Vec<u64>,
    v: Vec<u64>,
    relative: Vec<u16>,
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
        let mut relative = std::mem::take(&mut self.relative);
        if self.prepared != Some(row) {
            symbol::relative_to_fragment(a, &mut relative);
            self.prepare(&relative);
            self.prepared = Some(row);
        }
        symbol::relative_to_fragment(b, &mut relative);
        let lcs = self.lcs_of_prepared(&relative, needed);
        self.relative = relative;
        lcs
    }

    fn slot(&self, symbol: u16) -> usize {
        ((symbol as u32 + 1).wrapping_mul(0x9e37_79b1) >> self.shift) as usize
    }

    /// Builds the match masks of `pattern` (one bit per position, per distinct symbol).
    fn prepare(&mut self, pattern: &[u16]) {
        self.prepared = None;
        self.pattern_len = pattern.len();
        self.words = pattern.len().div_ceil(64);
        let capacity = (2 * pattern.len()).next_power_of_two().max(64);
        self.shift = 32 - capacity.trailing_zeros();
        self.keys.clear();
        self.keys.resize(capacity, 0);
        self.rows.resize(capacity, 0);
        self.masks.clear();
        for (i, &symbol) in pattern.iter().enumerate() {
            let mut s = self.slot(symbol);
            while self.keys[s] != 0 && self.keys[s] != symbol as u32 + 1 {
                s = (s + 1) & (capacity - 1);
            }
            if self.keys[s] == 0 {
                self.keys[s] = symbol as u32 + 1;
                self.rows[s] = (self.masks.len() / self.words) as u32;
                self.masks.resize(self.masks.len() + self.words, 0);
            }
            self.masks[self.rows[s] as usize * self.words + i / 64] |= 1 << (i % 64);
        }
    }

    /// The LCS of the prepared pattern and `text` when it reaches `needed`; `None` as soon
    /// as it cannot (bit-parallel, Hyyrö 2004).
    fn lcs_of_prepared(&mut self, text: &[u16], needed: u32) -> Option<u32> {
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
        let capacity = self.keys.len();
        for (k, &symbol) in text.iter().enumerate() {
            // Each remaining text symbol adds at most one to the LCS.
            if k % 32 == 0 && k > 0 && length(&self.v) + ((text.len() - k) as u32) < needed {
                return None;
            }
            let mut s = self.slot(symbol);
            loop {
                match self.keys[s] {
                    0 => break,
                    key if key == symbol as u32 + 1 => {
                        let row = self.rows[s] as usize * words;
                        let mask = &self.masks[row..row + words];
                        let mut carry = false;
                        for (vw, &mw) in self.v.iter_mut().zip(mask) {
                            let u = *vw & mw;
                            let (sum, c1) = vw.overflowing_add(u);
                            let (sum, c2) = sum.overflowing_add(carry as u64);
                            carry = c1 || c2;
                            *vw = sum | (*vw & !mw);
                        }
                        break;
                    }
                    _ => s = (s + 1) & (capacity - 1),
                }
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
        let mut seed = 0x1234_5678_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let la = (next() % 300) as usize;
            let lb = (next() % 300) as usize;
            let alphabet = 1 + next() % 12;
            let a: Vec<u16> = (0..la).map(|_| (next() % alphabet) as u16).collect();
            let b: Vec<u16> = (0..lb).map(|_| (next() % alphabet) as u16).collect();
            assert_eq!(lcs_len(&a, &b), lcs_reference(&a, &b), "{a:?} / {b:?}");
        }
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
