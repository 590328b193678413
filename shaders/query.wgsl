// Query scan: M query fragments against N stored ones (a pattern database), keeping every
// pair whose sketches agree on enough bins: `MatchConfig::agreement_needed`, the matcher's
// threshold. CPU twin: `cpu_hits` in crates/codetable-match/src/scan.rs; host:
// `Gpu::query_hits` in gpu.rs. The host ranks the hits, verifies them and keeps the top k.
//
// One invocation per stored fragment, which keeps its own sketch in registers; the queries
// pass through workgroup memory 16 at a time. Each query carries the run `lo..hi` of
// stored positions (sorted by group and length) whose lengths fit it. Hits are appended
// through the atomic `count`, which keeps counting past `capacity` so the host sees an
// overflow and dispatches again with room. The host prepends scan.wgsl
// (`Params`, `agrees_enough`).

struct Query {
    sketch: array<u32, 64>,
    tokens: u32,
    lo: u32,
    hi: u32,
    pad: u32,
}

struct Hit {
    query: u32,
    position: u32,
    agreement: u32,
    pad: u32,
}

@group(0) @binding(1) var<storage, read> queries: array<Query>;
@group(0) @binding(2) var<storage, read> sketches: array<u32>; // 64 bins per stored fragment
@group(0) @binding(3) var<storage, read> lengths: array<u32>;  // tokens per stored fragment
@group(0) @binding(4) var<storage, read_write> out: array<Hit>;
@group(0) @binding(5) var<storage, read_write> count: atomic<u32>;

const BINS: u32 = 64u;
const TILE: u32 = 16u;

var<workgroup> tile: array<Query, 16>;

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) lane: u32,
    @builtin(global_invocation_id) global: vec3<u32>,
) {
    let local = global.x;
    let stored_here = local < params.block_len;
    let position = params.block_start + local;
    var own: array<u32, 64>;
    var own_tokens = 0u;
    if stored_here {
        for (var bin = 0u; bin < BINS; bin++) {
            own[bin] = sketches[local * BINS + bin];
        }
        own_tokens = lengths[local];
    }
    for (var base = 0u; base < params.listed; base += TILE) {
        if lane < TILE && base + lane < params.listed {
            tile[lane] = queries[base + lane];
        }
        workgroupBarrier();
        if stored_here {
            for (var k = 0u; k < min(TILE, params.listed - base); k++) {
                if position < tile[k].lo || position >= tile[k].hi {
                    continue;
                }
                var agreement = 0u;
                for (var bin = 0u; bin < BINS; bin++) {
                    agreement += select(0u, 1u, own[bin] == tile[k].sketch[bin]);
                }
                let shorter = min(own_tokens, tile[k].tokens);
                let longer = max(own_tokens, tile[k].tokens);
                if agrees_enough(agreement, shorter, longer) {
                    let slot = atomicAdd(&count, 1u);
                    if slot < params.capacity {
                        out[slot] = Hit(base + k, position, agreement, 0u);
                    }
                }
            }
        }
        workgroupBarrier();
    }
}
