//! Token-level verification of near-miss candidates: the longest common subsequence of two
//! abstracted token streams, computed bit-parallel (Hyyrö, "Bit-parallel LCS-length
//! computation revisited", 2004) in O(n·m/64) word operations.

use std::collections::HashMap;

/// How tokens are encoded as 16-bit symbols.
///
/// Keywords, operators and punctuation map to values below [`LITERAL`](symbol::LITERAL) (a
/// fold of their text hash); every literal is [`LITERAL`](symbol::LITERAL); an identifier is
/// [`IDENTIFIER`](symbol::IDENTIFIER) or'ed with the distance in tokens back to the previous
/// use of the same name in the file (0 for a first use, capped at
/// [`MAX_DISTANCE`](symbol::MAX_DISTANCE)). Consistent renaming keeps every symbol; using
/// a different variable changes one.
pub mod symbol {
    pub const LITERAL: u16 = 0xEFFF;
    pub const IDENTIFIER: u16 = 0xF000;
    pub const MAX_DISTANCE: u16 = 0x0FFF;

    /// Rewrites a slice of a file's symbols as seen from the slice alone: a name whose
    /// previous use lies before the slice is a first use.
    pub fn relative_to_fragment(symbols: &[u16], out: &mut Vec<u16>) {
        out.clear();
        out.extend(symbols.iter().enumerate().map(|(i, &s)| {
            if s >= IDENTIFIER && (s & MAX_DISTANCE) as usize > i {
                IDENTIFIER
            } else {
                s
            }
        }));
    }
}

/// Length of the longest common subsequence of `a` and `b`.
pub fn lcs_len(a: &[u16], b: &[u16]) -> u32 {
    let (pattern, text) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if pattern.is_empty() {
        return 0;
    }
    let words = pattern.len().div_ceil(64);
    let mut masks: HashMap<u16, Vec<u64>> = HashMap::new();
    for (i, &symbol) in pattern.iter().enumerate() {
        masks.entry(symbol).or_insert_with(|| vec![0; words])[i / 64] |= 1 << (i % 64);
    }
    let mut v = vec![u64::MAX; words];
    for symbol in text {
        let Some(m) = masks.get(symbol) else {
            continue;
        };
        let mut carry = false;
        for (vw, &mw) in v.iter_mut().zip(m) {
            let u = *vw & mw;
            let (sum, c1) = vw.overflowing_add(u);
            let (sum, c2) = sum.overflowing_add(carry as u64);
            carry = c1 || c2;
            *vw = sum | (*vw & !mw);
        }
    }
    let tail_bits = pattern.len() % 64;
    let zeros: u32 = v
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let w = if i == words - 1 && tail_bits != 0 {
                w | (u64::MAX << tail_bits)
            } else {
                w
            };
            w.count_zeros()
        })
        .sum();
    zeros
}

/// Dice similarity of two fragments' symbol slices (as cut from their files) over their
/// longest common subsequence, `2·lcs / (|a| + |b|)`: 1.0 for equal streams.
pub fn similarity(a: &[u16], b: &[u16]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    symbol::relative_to_fragment(a, &mut ra);
    symbol::relative_to_fragment(b, &mut rb);
    2.0 * lcs_len(&ra, &rb) as f64 / (a.len() + b.len()) as f64
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
    fn similarity_of_edits() {
        let a: Vec<u16> = (0..100).collect();
        assert_eq!(similarity(&a, &a), 1.0);
        let mut b = a.clone();
        b.drain(40..60);
        assert!((similarity(&a, &b) - 160.0 / 180.0).abs() < 1e-9);
        assert_eq!(similarity(&a, &[]), 0.0);
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
        assert_eq!(similarity(&cut, &fresh), 1.0);
        let other = [
            IDENTIFIER,
            1,
            IDENTIFIER,
            2,
            IDENTIFIER | 2,
            3,
            IDENTIFIER | 2,
        ];
        assert!(similarity(&cut, &other) < 1.0);
    }
}
