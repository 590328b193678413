//! Near-miss candidates: LSH banding over class representatives' sketches.
//!
//! A pair `(a, b)` is a candidate exactly when
//! - both are in one group and neither is a statement run;
//! - their sketches agree on every bin of at least one band;
//! - the longer has at most [`MatchConfig::max_length`] of the shorter's tokens;
//! - their sketches agree on at least [`MatchConfig::agreement_needed`] bins;
//! - they do not overlap in one file.
//!
//! Nothing else (no cap per bucket, no order) decides, so the set is symmetric and the
//! partners of a fragment do not depend on which other fragments exist. Bands are scanned
//! one at a time, and a pair is emitted only from the first band it shares, so no pair is
//! produced twice and memory stays at one band's keys.

use codetable_fingerprint::{UNBANDED, FragmentId, FragmentKind, FragmentTable, SKETCH_BINS, Sketch};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{ExactClasses, MatchConfig};

/// A pair of fragments to verify, `a < b`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable,
    Serialize, Deserialize,
)]
#[repr(C)]
pub struct Candidate {
    pub a: FragmentId,
    pub b: FragmentId,
}

/// The candidate pairs among the classes' representatives, sorted.
pub fn candidates(
    table: &FragmentTable,
    classes: &ExactClasses,
    config: &MatchConfig,
) -> Vec<Candidate> {
    let index = table.id_index();
    let representatives: Vec<u32> = (0..classes.len())
        .filter_map(|c| index.row(classes.class(c)[0]))
        .filter(|&r| !table.kinds[r as usize].is(FragmentKind::STATEMENT_RUN))
        .filter(|&r| table.spans[r as usize].tokens() >= std::env::var("CT_MINLEN").ok().and_then(|v| v.parse().ok()).unwrap_or(0))
        .collect();
    let rows = config.rows_per_band.clamp(1, SKETCH_BINS);
    let bands = SKETCH_BINS / rows;

    let mut pairs: Vec<Candidate> = (0..bands)
        .into_par_iter()
        .flat_map_iter(|band| {
            // (bucket key, length, row): a bucket holds one band value of one group.
            let mut keyed: Vec<(u32, u32, u32)> = representatives
                .iter()
                .filter(|&&r| is_banded(&table.sketches[r as usize], band, rows))
                .map(|&r| {
                    let bins = band_of(&table.sketches[r as usize], band, rows);
                    let seed = (table.kinds[r as usize].group as u64) << 32 | band as u64;
                    let key = bins.iter().fold(seed, |acc, &v| {
                        (acc ^ v as u64)
                            .wrapping_mul(0x9fb2_1c65_1e98_df25)
                            .rotate_left(29)
                    });
                    (key as u32 ^ (key >> 32) as u32, table.spans[r as usize].tokens(), r)
                })
                .collect();
            keyed.sort_unstable();
            let mut out = Vec::new();
            let mut scanned = 0u64;
            for bucket in keyed.chunk_by(|x, y| x.0 == y.0) {
                for (k, &(_, len, a)) in bucket.iter().enumerate() {
                    let longest = config.max_length(len);
                    for &(_, other, b) in &bucket[k + 1..] {
                        if other > longest {
                            break;
                        }
                        scanned += 1;
                        if is_candidate(table, config, band, rows, a, b, len, other) {
                            let (ia, ib) = (table.ids[a as usize], table.ids[b as usize]);
                            out.push(Candidate {
                                a: ia.min(ib),
                                b: ia.max(ib),
                            });
                        }
                    }
                }
            }
            SCANNED.fetch_add(scanned, std::sync::atomic::Ordering::Relaxed);
            out
        })
        .collect();
    pairs.par_sort_unstable();
    eprintln!("TRACE scanned {} kept {}", SCANNED.load(std::sync::atomic::Ordering::Relaxed), pairs.len());
    pairs
}

/// Whether rows `a` and `b`, met in `band`'s bucket, are a candidate first met there.
#[allow(clippy::too_many_arguments)]
fn is_candidate(
    table: &FragmentTable,
    config: &MatchConfig,
    band: usize,
    rows: usize,
    a: u32,
    b: u32,
    len_a: u32,
    len_b: u32,
) -> bool {
    let (a, b) = (a as usize, b as usize);
    let (sa, sb) = (&table.sketches[a], &table.sketches[b]);
    // Same band value and group (the bucket key may collide), and no earlier band shared.
    if table.kinds[a].group != table.kinds[b].group
        || band_of(sa, band, rows) != band_of(sb, band, rows)
    {
        return false;
    }
    if (0..band).any(|e| {
        is_banded(sa, e, rows) && is_banded(sb, e, rows) && band_of(sa, e, rows) == band_of(sb, e, rows)
    }) {
        return false;
    }
    let (shorter, longer) = (len_a.min(len_b), len_a.max(len_b));
    table.sketches[a].agreement(&table.sketches[b]) >= config.agreement_needed(shorter, longer)
        && !table.spans[a].overlaps(&table.spans[b])
}

fn band_of(sketch: &Sketch, band: usize, rows: usize) -> &[u32] {
    &sketch.0[band * rows..(band + 1) * rows]
}

pub static SCANNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether a band of the sketch has a gram of its own in every bin (see [`UNBANDED`]).
fn is_banded(sketch: &Sketch, band: usize, rows: usize) -> bool {
    band_of(sketch, band, rows).iter().all(|&v| v & UNBANDED == 0)
}
