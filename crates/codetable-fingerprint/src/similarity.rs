//! Token-level verification of near-miss candidates: the longest common subsequence of two
//! abstracted token streams, computed bit-parallel (Hyyrö, "Bit-parallel LCS-length
//! computation revisited", 2004) in O(n·m/64) word operations.

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
    let mut verifier = Verifier::default();
    verifier.prepare(a);
    verifier.lcs_at_least(b, 0).unwrap_or(0)
}

/// Dice similarity of two fragments' symbol slices (as cut from their files) over their
/// longest common subsequence, `2·lcs / (|a| + |b|)`: 1.0 for equal streams.
pub fn similarity(a: &[u16], b: &[u16]) -> f64 {
    Verifier::default()
        .similarity_at_least(a, b, 0.0)
        .unwrap_or(0.0)
}

/// Compares many pairs of symbol slices, reusing its buffers, and the bit masks of the
/// first slice while consecutive calls share it (as sorted candidate pairs do). Slices
/// must not change while a verifier is in use: it knows a first slice by its address.
#[derive(Default)]
pub struct Verifier {
    /// Address and length of the first slice the masks were built for.
    prepared: Option<(usize, usize)>,
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
    /// [`similarity`] when it reaches `min`, else `None`, giving up as soon as the rest of
    /// the streams can no longer reach `min`.
    pub fn similarity_at_least(&mut self, a: &[u16], b: &[u16], min: f64) -> Option<f64> {
        let total = a.len() + b.len();
        if total == 0 {
            return Some(1.0);
        }
        let needed = (min * total as f64 / 2.0).ceil() as u32;
        if (a.len().min(b.len()) as u32) < needed {
            return None;
        }
        let mut relative = std::mem::take(&mut self.relative);
        let identity = (a.as_ptr() as usize, a.len());
        if self.prepared != Some(identity) {
            symbol::relative_to_fragment(a, &mut relative);
            self.prepare(&relative);
            self.prepared = Some(identity);
        }
        symbol::relative_to_fragment(b, &mut relative);
        let lcs = self.lcs_at_least(&relative, needed);
        self.relative = relative;
        let similarity = 2.0 * lcs? as f64 / total as f64;
        (similarity >= min).then_some(similarity)
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
    fn lcs_at_least(&mut self, text: &[u16], needed: u32) -> Option<u32> {
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
    fn similarity_of_edits() {
        let a: Vec<u16> = (0..100).collect();
        assert_eq!(similarity(&a, &a), 1.0);
        let mut b = a.clone();
        b.drain(40..60);
        assert!((similarity(&a, &b) - 160.0 / 180.0).abs() < 1e-9);
        assert_eq!(similarity(&a, &[]), 0.0);
    }

    #[test]
    fn a_reused_verifier_agrees_with_fresh_comparisons() {
        let streams: Vec<Vec<u16>> = (0..6u16)
            .map(|s| (0..80 + s * 13).map(|i| (i * (s + 3)) % 11).collect())
            .collect();
        let mut verifier = Verifier::default();
        for a in &streams {
            for b in &streams {
                let fresh = similarity(a, b);
                let reused = verifier.similarity_at_least(a, b, 0.0).unwrap();
                assert_eq!(fresh, reused);
                let strict = verifier.similarity_at_least(a, b, 0.9);
                assert_eq!(strict, (fresh >= 0.9).then_some(fresh));
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
