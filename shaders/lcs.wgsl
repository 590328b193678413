// Verification of candidate pairs: the length of the longest common subsequence of two
// verification streams, by Hyyrö's bit-vector recurrence (2004) in 32-bit words. CPU twin:
// `Verifier::lcs_at_least` in crates/codetable-match/src/verify.rs; host:
// `Gpu::lcs` in gpu.rs.
//
// One invocation per pair. Streams are 16-bit symbols packed two to a word, already seen
// from their own fragment (`symbol::relative`). The first stream is the pattern: for each
// symbol of the second, the match mask of each 32-symbol word of the pattern is built by
// comparison, so no per-pattern table is needed: the carry chain is bit-parallel (n·m/32
// word updates) but the masks cost n·m symbol comparisons, where the CPU looks them up. The bit vector V lives in `scratch` at
// the pair's own offset, and `progress` says how far into the text a pair has got, so
// the host can spread a long pair over several dispatches. The result is the LCS when it
// reaches `needed`, else NONE (as soon as it cannot): integers only, the CPU's answer.

struct Params {
    pairs: u32,
    share: u32, // text symbols each pair advances in one dispatch
    pad0: u32,
    pad1: u32,
}

struct Task {
    a_offset: u32, // first symbol of the pattern in `symbols`
    a_len: u32,
    b_offset: u32,
    b_len: u32,
    needed: u32,
    scratch: u32, // first word of this pair's V in `scratch`
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tasks: array<Task>;
@group(0) @binding(2) var<storage, read> symbols: array<u32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(4) var<storage, read_write> lcs: array<u32>;
@group(0) @binding(5) var<storage, read_write> progress: array<u32>; // next text symbol

const NONE: u32 = 0xffffffffu;
const DONE: u32 = 0xffffffffu;

fn symbol(i: u32) -> u32 {
    return (symbols[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
}

// The LCS so far: zero bits of V, the bits past the pattern's end counted as ones.
fn length(base: u32, words: u32, a_len: u32) -> u32 {
    var zeros = 0u;
    for (var w = 0u; w < words; w++) {
        var v = scratch[base + w];
        let bits = min(32u, a_len - w * 32u);
        if bits < 32u {
            v = v | (0xffffffffu << bits);
        }
        zeros += 32u - countOneBits(v);
    }
    return zeros;
}

fn finish(index: u32, result: u32) {
    lcs[index] = result;
    progress[index] = DONE;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) global: vec3<u32>) {
    let index = global.x;
    if index >= params.pairs {
        return;
    }
    let start = progress[index];
    if start == DONE {
        return;
    }
    let task = tasks[index];
    let words = (task.a_len + 31u) / 32u;
    if start == 0u {
        if min(task.a_len, task.b_len) < task.needed {
            finish(index, NONE);
            return;
        }
        if task.a_len == 0u {
            finish(index, select(NONE, 0u, task.needed == 0u));
            return;
        }
        for (var w = 0u; w < words; w++) {
            scratch[task.scratch + w] = 0xffffffffu;
        }
    }
    // A share of the text per dispatch, so that no invocation loops past a budget (the
    // software device cuts loops off at 65,535 iterations); the host dispatches again.
    let end = min(task.b_len, start + params.share);
    for (var j = start; j < end; j++) {
        // Each remaining symbol adds at most one.
        if j % 32u == 0u && j > 0u {
            if length(task.scratch, words, task.a_len) + (task.b_len - j) < task.needed {
                finish(index, NONE);
                return;
            }
        }
        let c = symbol(task.b_offset + j);
        var carry = 0u;
        for (var w = 0u; w < words; w++) {
            let first = w * 32u;
            let bits = min(32u, task.a_len - first);
            var mask = 0u;
            for (var t = 0u; t < bits; t++) {
                mask |= select(0u, 1u << t, symbol(task.a_offset + first + t) == c);
            }
            let v = scratch[task.scratch + w];
            let u = v & mask;
            let sum = v + u;
            let total = sum + carry;
            carry = select(0u, 1u, sum < v || total < sum);
            scratch[task.scratch + w] = total | (v & ~mask);
        }
    }
    if end < task.b_len {
        progress[index] = end;
        return;
    }
    let found = length(task.scratch, words, task.a_len);
    finish(index, select(NONE, found, found >= task.needed));
}
