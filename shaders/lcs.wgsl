// Verification of candidate pairs: the length of the longest common subsequence of two
// verification streams, by Hyyrö's bit-vector recurrence (2004) in 32-bit words. CPU twin:
// `Verifier::lcs_at_least` in crates/codetable-match/src/verify.rs; host: `Gpu::lcs` in
// gpu.rs.
//
// One invocation per pair. Streams are 16-bit symbols packed two to a word, already seen
// from their own fragment (`symbol::relative`). The longer stream is the pattern, split
// into 32-symbol words that are processed one after another over the whole text (the
// shorter stream): the carry of the bit-vector addition from one word to the next, one bit
// per text symbol, waits in `scratch` at the pair's own offset. For each word the pattern's
// at most 32 distinct symbols and their match masks are sorted into registers, so a text
// symbol's mask is a binary search, not 32 comparisons. `progress` says which word a pair
// has reached, so the host can spread a long pair over several dispatches; `lcs` holds the
// zeros counted so far, and at the end the LCS when it reaches `needed`, else NONE:
// integers only, the CPU's answer.

struct Params {
    pairs: u32,
    share: u32, // pattern words each pair advances in one dispatch
    pad0: u32,
    pad1: u32,
}

struct Task {
    a_offset: u32, // the pattern (the longer stream)
    a_len: u32,
    b_offset: u32, // the text
    b_len: u32,
    needed: u32,
    scratch: u32, // first word of this pair's carry bits in `scratch`
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tasks: array<Task>;
@group(0) @binding(2) var<storage, read> symbols: array<u32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(4) var<storage, read_write> lcs: array<u32>;
@group(0) @binding(5) var<storage, read_write> progress: array<u32>; // next pattern word

const NONE: u32 = 0xffffffffu;
const DONE: u32 = 0xffffffffu;

fn symbol(i: u32) -> u32 {
    return (symbols[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
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
    let first_word = progress[index];
    if first_word == DONE {
        return;
    }
    let task = tasks[index];
    let words = (task.a_len + 31u) / 32u;
    if first_word == 0u {
        if min(task.a_len, task.b_len) < task.needed {
            finish(index, NONE);
            return;
        }
        if task.a_len == 0u || task.b_len == 0u {
            finish(index, select(NONE, 0u, task.needed == 0u));
            return;
        }
        lcs[index] = 0u;
    }
    var keys: array<u32, 32>;
    var masks: array<u32, 32>;
    let last_word = min(words, first_word + params.share);
    for (var w = first_word; w < last_word; w++) {
        // The word's distinct symbols, sorted, with the bits where each occurs.
        let bits = min(32u, task.a_len - w * 32u);
        var distinct = 0u;
        for (var t = 0u; t < bits; t++) {
            let s = symbol(task.a_offset + w * 32u + t);
            var k = 0u;
            while k < distinct && keys[k] < s {
                k++;
            }
            if k < distinct && keys[k] == s {
                masks[k] |= 1u << t;
            } else {
                for (var m = distinct; m > k; m--) {
                    keys[m] = keys[m - 1u];
                    masks[m] = masks[m - 1u];
                }
                keys[k] = s;
                masks[k] = 1u << t;
                distinct++;
            }
        }
        var v = 0xffffffffu;
        var carry_in = 0u;
        var carry_out = 0u;
        for (var j = 0u; j < task.b_len; j++) {
            let bit = j & 31u;
            if bit == 0u && w > 0u {
                carry_in = scratch[task.scratch + (j >> 5u)];
            }
            // The text symbol's mask: a branch-free binary search of the keys.
            let c = symbol(task.b_offset + j);
            var at = 0u;
            for (var step = 16u; step > 0u; step >>= 1u) {
                if at + step <= distinct && keys[at + step - 1u] < c {
                    at += step;
                }
            }
            let mask = select(0u, masks[at], at < distinct && keys[at] == c);
            let carry = (carry_in >> bit) & 1u;
            let u = v & mask;
            let sum = v + u;
            let total = sum + carry;
            carry_out |= select(0u, 1u, sum < v || total < sum) << bit;
            v = total | (v & ~mask);
            if bit == 31u || j + 1u == task.b_len {
                scratch[task.scratch + (j >> 5u)] = carry_out;
                carry_out = 0u;
            }
        }
        // This word's share of the LCS: its zero bits (those past the pattern's end count
        // as ones).
        if bits < 32u {
            v = v | (0xffffffffu << bits);
        }
        lcs[index] += 32u - countOneBits(v);
    }
    if last_word < words {
        progress[index] = last_word;
        return;
    }
    let found = lcs[index];
    finish(index, select(NONE, found, found >= task.needed));
}
