//! Query scans: fragments looked up among many stored ones (a pattern database's), with
//! the matcher's pair rule: same group, compatible lengths, enough agreeing sketch bins.
//! [`StoredSketches`] holds the stored side once, sorted by (group, tokens), so each query
//! scans one run of it; [`hits`] returns every stored fragment that passes, on either
//! backend. [`cpu_hits`] is the rayon twin of `shaders/query.wgsl`
//! ([`crate::gpu::Gpu::query_hits`]).

use codetable_fingerprint::{SKETCH_BINS, Sketch};
use rayon::prelude::*;

use crate::{Backend, GpuError, MatchConfig};

/// Stored fragments in (group, tokens, key) order; `key` is the caller's name for each.
#[derive(Debug, Default)]
pub struct StoredSketches {
    pub(crate) keys: Vec<u64>,
    pub(crate) groups: Vec<u16>,
    pub(crate) lengths: Vec<u32>,
    pub(crate) sketches: Vec<Sketch>,
    /// The GPU's copy, in blocks of the given size (uploaded on first use).
    pub(crate) uploaded: std::sync::Mutex<Option<(usize, crate::gpu::StoredBlocks)>>,
}

/// A fragment to look up.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub group: u16,
    pub tokens: u32,
    pub sketch: Sketch,
}

/// A stored fragment that passed the pair rule for a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// Index of the probe.
    pub probe: u32,
    /// The stored fragment's key.
    pub key: u64,
    /// Agreeing sketch bins, of 64.
    pub agreement: u32,
}

/// What a kernel reads of one probe (`Query` in the shader): its sketch, length and the
/// run of stored positions to scan.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct ProbeRecord {
    pub sketch: [u32; SKETCH_BINS],
    pub tokens: u32,
    pub lo: u32,
    pub hi: u32,
    pub pad: u32,
}

impl StoredSketches {
    /// The stored fragments `(key, group, tokens, sketch)`, in any order.
    pub fn new(mut fragments: Vec<(u64, u16, u32, Sketch)>) -> StoredSketches {
        fragments.par_sort_unstable_by_key(|f| (f.1, f.2, f.0));
        StoredSketches {
            keys: fragments.iter().map(|f| f.0).collect(),
            groups: fragments.iter().map(|f| f.1).collect(),
            lengths: fragments.iter().map(|f| f.2).collect(),
            sketches: fragments.iter().map(|f| f.3).collect(),
            uploaded: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The probe as the kernels read it: the stored positions of its group whose lengths
    /// fit its own (either may be the longer).
    pub(crate) fn record(&self, probe: &Probe, config: &MatchConfig) -> ProbeRecord {
        let start = self.groups.partition_point(|&g| g < probe.group);
        let end = self.groups.partition_point(|&g| g <= probe.group);
        let lengths = &self.lengths[start..end];
        let longest = config.max_length(probe.tokens);
        ProbeRecord {
            sketch: probe.sketch.0,
            tokens: probe.tokens,
            lo: (start
                + lengths
                    .partition_point(|&t| t < probe.tokens && config.max_length(t) < probe.tokens))
                as u32,
            hi: (start + lengths.partition_point(|&t| t <= longest)) as u32,
            pad: 0,
        }
    }
}

/// Every stored fragment that passes the pair rule for each probe, sorted by probe, then
/// agreement (most first), then key: the same on every backend.
pub fn hits(
    stored: &StoredSketches,
    probes: &[Probe],
    config: &MatchConfig,
    backend: &Backend,
) -> Result<Vec<Hit>, GpuError> {
    let records: Vec<ProbeRecord> = probes.iter().map(|p| stored.record(p, config)).collect();
    let found = match backend {
        Backend::Cpu => cpu_hits(stored, &records, config),
        Backend::Gpu { gpu, chunking } => {
            gpu.query_hits(stored, &records, config.min_agreement, chunking)?
        }
    };
    let mut hits: Vec<Hit> = found
        .into_iter()
        .map(|(probe, position, agreement)| Hit {
            probe,
            key: stored.keys[position as usize],
            agreement,
        })
        .collect();
    hits.par_sort_unstable_by_key(|h| (h.probe, std::cmp::Reverse(h.agreement), h.key));
    Ok(hits)
}

/// The CPU twin of `shaders/query.wgsl`: (probe, stored position, agreement) of every
/// passing pair, in no particular order.
pub(crate) fn cpu_hits(
    stored: &StoredSketches,
    records: &[ProbeRecord],
    config: &MatchConfig,
) -> Vec<(u32, u32, u32)> {
    records
        .par_iter()
        .enumerate()
        .flat_map_iter(|(q, record)| {
            let sketch = Sketch(record.sketch);
            (record.lo..record.hi).filter_map(move |p| {
                let agreement = sketch.agreement(&stored.sketches[p as usize]);
                let other = stored.lengths[p as usize];
                let (shorter, longer) = (record.tokens.min(other), record.tokens.max(other));
                (agreement >= config.agreement_needed(shorter, longer))
                    .then_some((q as u32, p, agreement))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xorshift;

    #[test]
    fn a_probe_scans_exactly_the_length_compatible_fragments_of_its_group() {
        let config = MatchConfig::default();
        let mut next = xorshift(3);
        let stored = StoredSketches::new(
            (0..2000)
                .map(|k| {
                    let tokens = 10 + (next() % 900) as u32;
                    (k, (next() % 3) as u16, tokens, Sketch([0; 64]))
                })
                .collect(),
        );
        for _ in 0..200 {
            let probe = Probe {
                group: (next() % 3) as u16,
                tokens: 10 + (next() % 900) as u32,
                sketch: Sketch([0; 64]),
            };
            let record = stored.record(&probe, &config);
            for p in 0..stored.len() {
                let other = stored.lengths[p];
                let (s, l) = (other.min(probe.tokens), other.max(probe.tokens));
                let fits = stored.groups[p] == probe.group && l <= config.max_length(s);
                let scanned = (record.lo..record.hi).contains(&(p as u32));
                assert_eq!(fits, scanned, "{} and {other} tokens", probe.tokens);
            }
        }
    }
}
