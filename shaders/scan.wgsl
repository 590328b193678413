// What the two scanning kernels, candidates.wgsl and query.wgsl, share; the host puts this
// file in front of each. Both scan listed fragments against one block of stored ones and
// append what passes, so they take the same parameters (`Gpu::scan_blocks` fills them),
// and both apply the matcher's sketch-agreement bar in 32-bit integers (CPU twin:
// `MatchConfig::agreement_needed` in crates/codetable-match/src/lib.rs).

struct Params {
    listed: u32,        // entries of the listed array (fragments, or queries)
    block_start: u32,   // position of the block's first stored fragment
    block_len: u32,     // stored fragments in the block
    capacity: u32,      // records the append buffer holds
    min_agreement: u32, // MatchConfig::min_agreement
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

// x · y as (low, high) words, for x < 2^16.
fn wide_product(x: u32, y: u32) -> vec2<u32> {
    let high_part = x * (y >> 16u);
    let low_part = x * (y & 0xffffu);
    let low = low_part + (high_part << 16u);
    let carry = select(0u, 1u, low < low_part);
    return vec2<u32>(low, (high_part >> 16u) + carry);
}

fn less(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// agreement ≥ MatchConfig::agreement_needed(shorter, longer), that is
// agreement ≥ min(M, max(12, ⌊64·85·shorter / (100·longer)⌋)), without 64-bit integers:
// ⌊5440·s / (100·l)⌋ ≤ g exactly when 5440·s < 100·l·(g + 1).
fn agrees_enough(agreement: u32, shorter: u32, longer: u32) -> bool {
    if agreement >= params.min_agreement {
        return true;
    }
    if agreement < 12u {
        return false;
    }
    let l = max(longer, 1u);
    return less(wide_product(5440u, shorter), wide_product(100u * (agreement + 1u), l));
}
