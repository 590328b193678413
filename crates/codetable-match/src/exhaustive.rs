//! Exhaustive candidates: every pair of representatives that LSH's pair rule would accept
//! if they shared a band, without asking that they share one. A pair `(a, b)` is a
//! candidate exactly when
//! - both are in one group (neither is a statement run: they are not representatives);
//! - the longer has at most [`MatchConfig::max_length`] of the shorter's tokens;
//! - their sketches agree on at least [`MatchConfig::agreement_needed`] bins;
//! - they do not overlap in one file.
//!
//! So the exhaustive set holds the LSH set, and what it adds is exactly what LSH misses.
//! Representatives are put in [`Order`] (group, tokens, row): since
//! [`MatchConfig::max_length`] never falls as fragments grow, a fragment's partners form
//! one run of that order, found by binary search. [`cpu_pairs`] is the rayon twin of
//! `shaders/candidates.wgsl` ([`crate::gpu::Gpu::candidate_pairs`]): the same listed
//! fragments and ranges in, the same pairs out.

use codetable_fingerprint::{FragmentTable, SKETCH_BINS, Sketch};
use rayon::prelude::*;

use crate::near::byte_agreement;
use crate::{Backend, GpuError, MatchConfig};

/// The exhaustive candidate pairs (rows, `a < b`, sorted) among `representatives`: all of
/// them, or with `touched` (by row) those with a marked row.
pub(crate) fn pairs(
    table: &FragmentTable,
    representatives: &[u32],
    touched: Option<&[bool]>,
    config: &MatchConfig,
    backend: &Backend,
) -> Result<Vec<(u32, u32)>, GpuError> {
    let order = Order::new(table, representatives, config);
    let (listed, marked) = match touched {
        None => (order.all(), vec![0; order.len().div_ceil(32).max(1)]),
        Some(touched) => order.touching(touched),
    };
    let found = match backend {
        Backend::Cpu => cpu_pairs(&order, &listed, &marked, config),
        Backend::Gpu { gpu, chunking } => {
            gpu.candidate_pairs(&order, &listed, &marked, config.min_agreement, chunking)?
        }
    };
    let mut rows: Vec<(u32, u32)> = found
        .into_par_iter()
        .map(|(a, b)| {
            let (a, b) = (order.rows[a as usize], order.rows[b as usize]);
            (a.min(b), a.max(b))
        })
        .collect();
    rows.par_sort_unstable();
    Ok(rows)
}

/// Representatives in (group, tokens, row) order, with what a kernel needs of each.
#[derive(Debug)]
pub(crate) struct Order {
    /// Table row at each position.
    pub rows: Vec<u32>,
    pub sketches: Vec<Sketch>,
    pub metas: Vec<Meta>,
    /// Per position, the end of its partners that are at least as long (exclusive).
    pub hi: Vec<u32>,
    /// Per position, the first partner that is at most as long.
    pub lo: Vec<u32>,
}

/// A fragment's length and place: `#[repr(C)]` as the kernel reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Meta {
    pub tokens: u32,
    pub file: u32,
    pub first_token: u32,
    pub end_token: u32,
}

/// One fragment to find partners for: its position and the positions `lo..hi` to scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    pub position: u32,
    pub lo: u32,
    pub hi: u32,
}

impl Order {
    pub(crate) fn new(
        table: &FragmentTable,
        representatives: &[u32],
        config: &MatchConfig,
    ) -> Order {
        let mut rows = representatives.to_vec();
        let key = |r: u32| {
            let r = r as usize;
            (table.kinds[r].group, table.spans[r].tokens(), r)
        };
        rows.par_sort_unstable_by_key(|&r| key(r));
        let metas: Vec<Meta> = rows
            .iter()
            .map(|&r| {
                let span = &table.spans[r as usize];
                Meta {
                    tokens: span.tokens(),
                    file: span.file,
                    first_token: span.first_token,
                    end_token: span.end_token,
                }
            })
            .collect();
        let sketches = rows.iter().map(|&r| table.sketches[r as usize]).collect();
        let (mut lo, mut hi) = (vec![0u32; rows.len()], vec![0u32; rows.len()]);
        let groups =
            rows.chunk_by(|&x, &y| table.kinds[x as usize].group == table.kinds[y as usize].group);
        let mut start = 0usize;
        for group in groups {
            let end = start + group.len();
            let tokens = &metas[start..end];
            for i in start..end {
                let len = metas[i].tokens;
                // Longer partners: up to max_length(len). Shorter ones: those whose own
                // max_length reaches len (it never falls as fragments grow).
                let longest = config.max_length(len);
                hi[i] = (start + tokens.partition_point(|m| m.tokens <= longest)) as u32;
                lo[i] =
                    (start + tokens.partition_point(|m| config.max_length(m.tokens) < len)) as u32;
            }
            start = end;
        }
        Order {
            rows,
            sketches,
            metas,
            hi,
            lo,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Every position, each paired only with later ones: every candidate once.
    pub(crate) fn all(&self) -> Vec<Listed> {
        (0..self.len() as u32)
            .map(|i| Listed {
                position: i,
                lo: i + 1,
                hi: self.hi[i as usize].max(i + 1),
            })
            .collect()
    }

    /// The positions whose rows are marked (by table row), each with all its partners; a
    /// pair of two marked positions is kept only from its earlier one's side (see
    /// [`skips`]).
    pub(crate) fn touching(&self, marked: &[bool]) -> (Vec<Listed>, Vec<u32>) {
        let mut bits = vec![0u32; self.len().div_ceil(32).max(1)];
        let listed = (0..self.len() as u32)
            .filter(|&i| marked[self.rows[i as usize] as usize])
            .map(|i| {
                bits[i as usize / 32] |= 1 << (i % 32);
                Listed {
                    position: i,
                    lo: self.lo[i as usize],
                    hi: self.hi[i as usize],
                }
            })
            .collect();
        (listed, bits)
    }
}

/// Whether the scan from `a` passes over `b`: itself, or an earlier marked position (that
/// one's own scan emits the pair).
#[inline]
fn skips(a: u32, b: u32, marked: &[u32]) -> bool {
    b == a || (b < a && marked[b as usize / 32] & (1 << (b % 32)) != 0)
}

/// The CPU twin of `shaders/candidates.wgsl`: the candidate pairs (positions, listed one
/// first) found from each listed position, in no particular order.
pub(crate) fn cpu_pairs(
    order: &Order,
    listed: &[Listed],
    marked: &[u32],
    config: &MatchConfig,
) -> Vec<(u32, u32)> {
    // Low bytes first: equal bins have equal low bytes, so too few equal bytes rules a pair
    // out at a quarter of the cost of comparing the bins.
    let bytes: Vec<[u8; SKETCH_BINS]> = order
        .sketches
        .par_iter()
        .map(|s| s.0.map(|v| v as u8))
        .collect();
    let bytes = &bytes;
    listed
        .par_iter()
        .flat_map_iter(|entry| {
            let a = entry.position;
            let (meta_a, bytes_a) = (&order.metas[a as usize], &bytes[a as usize]);
            let sketch_a = &order.sketches[a as usize];
            let full_bar_until = config.full_agreement_until(meta_a.tokens);
            (entry.lo..entry.hi).filter_map(move |b| {
                if skips(a, b, marked) {
                    return None;
                }
                let meta_b = &order.metas[b as usize];
                let needed = if b > a && meta_b.tokens <= full_bar_until {
                    config.min_agreement
                } else {
                    let (ta, tb) = (meta_a.tokens, meta_b.tokens);
                    config.agreement_needed(ta.min(tb), ta.max(tb))
                };
                let overlap = meta_a.file == meta_b.file
                    && meta_a.first_token < meta_b.end_token
                    && meta_b.first_token < meta_a.end_token;
                (byte_agreement(bytes_a, &bytes[b as usize]) >= needed
                    && sketch_a.agreement(&order.sketches[b as usize]) >= needed
                    && !overlap)
                    .then_some((a, b))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, stream, table, xorshift};
    use crate::{exact_classes, representatives};
    use codetable_fingerprint::UNBANDED;

    #[test]
    fn partner_ranges_hold_exactly_the_length_compatible_fragments() {
        let config = MatchConfig::default();
        let mut next = xorshift(11);
        let specs: Vec<Vec<_>> = (0..300)
            .map(|i| {
                let len = 20 + (next() % 700) as u16;
                vec![spec(
                    i,
                    i,
                    stream(i as u16, len),
                    Sketch([i as u32 & !UNBANDED; 64]),
                )]
            })
            .collect();
        let table = table(&specs);
        let order = Order::new(
            &table,
            &representatives(&table, &exact_classes(&table)),
            &config,
        );
        for a in 0..order.len() {
            for b in 0..order.len() {
                let (ta, tb) = (order.metas[a].tokens, order.metas[b].tokens);
                let fits = ta.max(tb) <= config.max_length(ta.min(tb));
                let scanned = if b > a {
                    (b as u32) < order.hi[a]
                } else {
                    (b as u32) >= order.lo[a]
                };
                assert_eq!(fits, scanned || a == b, "{a} ({ta}) and {b} ({tb})");
            }
        }
    }
}
