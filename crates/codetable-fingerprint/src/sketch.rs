//! One-permutation MinHash over k-grams of abstracted tokens, densified so that every bin
//! holds a value (Shrivastava and Li, "Densifying One Permutation Hashing", 2014).

use bytemuck::{Pod, Zeroable};

use crate::mix;

/// Tokens per k-gram ("shingle").
pub const SHINGLE: usize = 4;
/// Bins of a sketch; the fraction of equal bins estimates Jaccard similarity.
pub const SKETCH_BINS: usize = 64;

/// A near-miss sketch: `#[repr(C)]` and `Pod`, so the same bytes can live in a mapped
/// segment and a GPU buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Pod, Zeroable)]
#[repr(C)]
pub struct Sketch(pub [u32; SKETCH_BINS]);

impl Sketch {
    /// The sketch of a set of k-gram hashes (duplicates do not matter), none of them weak.
    pub fn of(grams: &[u64]) -> Sketch {
        Sketch::marked(grams.iter().map(|&g| (g, false)))
    }

    /// The sketch of grams marked weak or not (see [`weak_grams`]), under an order that puts
    /// strong grams first: a bin holds its smallest strong gram, or, with none, its
    /// smallest weak gram, marked [`UNBANDED`]. Agreement still estimates Jaccard
    /// similarity (it is MinHash under another permutation).
    pub fn of_marked(grams: &[u64], weak: &[bool]) -> Sketch {
        Sketch::marked(grams.iter().copied().zip(weak.iter().copied()))
    }

    fn marked(grams: impl Iterator<Item = (u64, bool)>) -> Sketch {
        let mut bins = [u32::MAX; SKETCH_BINS];
        let mut filled = [false; SKETCH_BINS];
        let mut weak_min = [false; SKETCH_BINS];
        for (g, weak) in grams {
            let bin = (g >> 58) as usize;
            let value = g as u32 & !UNBANDED;
            // The order of this MinHash puts every strong gram before every weak one.
            if !filled[bin] || (weak, value) < (weak_min[bin], bins[bin]) {
                bins[bin] = value;
                filled[bin] = true;
                weak_min[bin] = weak;
            }
        }
        if filled.iter().any(|&f| f) {
            let dense = bins;
            for bin in 0..SKETCH_BINS {
                if filled[bin] {
                    bins[bin] |= if weak_min[bin] { UNBANDED } else { 0 };
                    continue;
                }
                // Borrow from a filled bin chosen by a hash of (bin, attempt), salted by
                // the attempt ("optimal densification", Shrivastava 2017): neighbouring
                // empty bins borrow from different bins, so a band of borrowed bins is
                // not one bin repeated.
                let (attempt, source) = (1u64..)
                    .map(|a| (a, (mix(bin as u64, a) % SKETCH_BINS as u64) as usize))
                    .find(|&(_, s)| filled[s])
                    .expect("at least one bin is filled");
                bins[bin] = mix(dense[source] as u64, attempt) as u32;
            }
        }
        Sketch(bins)
    }

    /// How many bins agree: `agreement / SKETCH_BINS` estimates Jaccard similarity.
    #[inline]
    pub fn agreement(&self, other: &Sketch) -> u32 {
        // A sum of 0/1 (rather than a filtered count) vectorises.
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a == b) as u32)
            .sum()
    }

    /// The bins of LSH band `band` when bands are `rows` bins wide.
    #[inline]
    pub fn band(&self, band: usize, rows: usize) -> &[u32] {
        &self.0[band * rows..(band + 1) * rows]
    }

    /// Whether band `band` takes part in LSH (none of its bins is [`UNBANDED`]).
    #[inline]
    pub fn is_banded(&self, band: usize, rows: usize) -> bool {
        self.band(band, rows).iter().all(|&v| v & UNBANDED == 0)
    }
}

/// The top bit of a bin marks a value that LSH bands leave out (it still counts in
/// agreement): a weak gram's, a [`common`](crate::common) one that holds the minimum in
/// thousands of unrelated functions and would put them all in one bucket.
pub const UNBANDED: u32 = 1 << 31;

/// Marks every k-gram (as [`shingles`] numbers them) that is weak: one of the
/// [`common`](crate::common) grams.
pub(crate) fn weak_grams(grams: &[u64], out: &mut Vec<bool>) {
    out.clear();
    let common = crate::common::Common::get();
    out.extend(grams.iter().map(|&g| common.contains(g)));
}

/// The hash of every k-gram of `tokens` into `out`: entry `i` covers
/// `tokens[i..i + SHINGLE]`.
pub(crate) fn shingles(tokens: &[u64], out: &mut Vec<u64>) {
    out.clear();
    out.extend(
        tokens
            .windows(SHINGLE)
            .map(|w| w.iter().fold(0x5851_f42d_4c95_7f2d, |acc, &t| mix(acc, t))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(range: std::ops::Range<u64>) -> Vec<u64> {
        range.map(|i| mix(i, 7)).collect()
    }

    #[test]
    fn identical_sets_agree_everywhere() {
        let a = Sketch::of(&grams(0..100));
        let mut reversed = grams(0..100);
        reversed.reverse();
        assert_eq!(a.agreement(&Sketch::of(&reversed)), SKETCH_BINS as u32);
    }

    #[test]
    fn agreement_estimates_jaccard() {
        // |A ∩ B| = 500, |A ∪ B| = 1500: Jaccard 1/3.
        let a = Sketch::of(&grams(0..1000));
        let b = Sketch::of(&grams(500..1500));
        let estimate = a.agreement(&b) as f64 / SKETCH_BINS as f64;
        assert!((estimate - 1.0 / 3.0).abs() < 0.15, "estimate {estimate}");
        let disjoint = Sketch::of(&grams(5000..6000));
        assert!(a.agreement(&disjoint) <= 2);
    }

    #[test]
    fn small_sets_are_densified() {
        let s = Sketch::of(&grams(0..3));
        assert!(s.0.iter().all(|&v| v != u32::MAX));
    }
}
