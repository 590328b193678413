// Exhaustive near-miss candidates. CPU twin: `cpu_pairs` in
// crates/codetable-match/src/exhaustive.rs; host: `Gpu::candidate_pairs` in gpu.rs.
//
// Each invocation takes one listed fragment `a` (its sketch and place travel with it) and
// scans the positions `lo..hi` of one block of stored fragments `b` (sorted by group and
// length, so the range holds exactly the length-compatible partners). A pair is a
// candidate when the sketches agree on enough bins and the spans do not overlap; it is
// appended to `out` through the atomic `count`. Past `capacity` nothing is written but the
// count still grows, so the host sees the overflow and dispatches again with room.
//
// The block's sketches are read through workgroup memory, 32 at a time, shared by the
// workgroup's 64 listed fragments. Integers only: the answers are the CPU's. The host
// prepends scan.wgsl (`Params`, `agrees_enough`).

struct Meta {
    tokens: u32,
    file: u32,
    first_token: u32,
    end_token: u32,
}

struct Listed {
    sketch: array<u32, 64>,
    place: Meta,
    position: u32,
    lo: u32,
    hi: u32,
    pad: u32,
}

@group(0) @binding(1) var<storage, read> listed: array<Listed>;
@group(0) @binding(2) var<storage, read> sketches: array<u32>; // 64 bins per block fragment
@group(0) @binding(3) var<storage, read> metas: array<Meta>;   // one per block fragment
@group(0) @binding(4) var<storage, read> marked: array<u32>;   // a bit per position
@group(0) @binding(5) var<storage, read_write> out: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> count: atomic<u32>;

const BINS: u32 = 64u;
const TILE: u32 = 32u;
const NONE: u32 = 0xffffffffu;

var<workgroup> tile_sketches: array<u32, 2048>; // TILE * BINS
var<workgroup> tile_metas: array<Meta, 32>;     // TILE
var<workgroup> range_lo: atomic<u32>;
var<workgroup> range_hi: atomic<u32>;
var<workgroup> scan_lo: u32;
var<workgroup> scan_hi: u32;

fn is_marked(position: u32) -> bool {
    return (marked[position >> 5u] & (1u << (position & 31u))) != 0u;
}

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) lane: u32,
    @builtin(global_invocation_id) global: vec3<u32>,
) {
    let index = global.x;
    let listed_here = index < params.listed;
    if lane == 0u {
        atomicStore(&range_lo, NONE);
        atomicStore(&range_hi, 0u);
    }
    workgroupBarrier();

    var a_sketch: array<u32, 64>;
    var a_meta = Meta(0u, 0u, 0u, 0u);
    var a = 0u;
    var lo = 0u;
    var hi = 0u;
    let block_end = params.block_start + params.block_len;
    if listed_here {
        a_sketch = listed[index].sketch;
        a_meta = listed[index].place;
        a = listed[index].position;
        lo = max(listed[index].lo, params.block_start);
        hi = min(listed[index].hi, block_end);
        if lo < hi {
            atomicMin(&range_lo, lo);
            atomicMax(&range_hi, hi);
        }
    }
    workgroupBarrier();
    if lane == 0u {
        scan_lo = atomicLoad(&range_lo);
        scan_hi = atomicLoad(&range_hi);
    }
    let start = workgroupUniformLoad(&scan_lo);
    let end = workgroupUniformLoad(&scan_hi);

    for (var base = start; base < end; base += TILE) {
        // 64 lanes load 32 sketches of 64 bins.
        for (var k = 0u; k < TILE * BINS / 64u; k++) {
            let flat = k * 64u + lane;
            let position = base + flat / BINS;
            if position < end {
                tile_sketches[flat] = sketches[(position - params.block_start) * BINS + flat % BINS];
            }
        }
        if lane < TILE && base + lane < end {
            tile_metas[lane] = metas[base + lane - params.block_start];
        }
        workgroupBarrier();
        if listed_here {
            for (var k = 0u; k < TILE; k++) {
                let b = base + k;
                if b < lo || b >= hi || b == a || (b < a && is_marked(b)) {
                    continue;
                }
                var agreement = 0u;
                for (var bin = 0u; bin < BINS; bin++) {
                    agreement += select(0u, 1u, a_sketch[bin] == tile_sketches[k * BINS + bin]);
                }
                let b_meta = tile_metas[k];
                let shorter = min(a_meta.tokens, b_meta.tokens);
                let longer = max(a_meta.tokens, b_meta.tokens);
                let overlap = a_meta.file == b_meta.file
                    && a_meta.first_token < b_meta.end_token
                    && b_meta.first_token < a_meta.end_token;
                if agrees_enough(agreement, shorter, longer) && !overlap {
                    let slot = atomicAdd(&count, 1u);
                    if slot < params.capacity {
                        out[slot] = vec2<u32>(a, b);
                    }
                }
            }
        }
        workgroupBarrier();
    }
}
