//! Fingerprints of code fragments: what makes two pieces of code "the same pattern".
//!
//! For every candidate fragment of a [`SyntaxTree`] (a function, class or block above a
//! minimum size) [`fingerprint`] computes
//! - an exact hash of its token texts, blind to layout and comments (Type-1 clones);
//! - an exact hash with identifiers and literals abstracted to their roles (Type-2);
//! - a one-permutation MinHash [`Sketch`] over k-grams of the abstracted tokens, whose
//!   agreement estimates Jaccard similarity (Type-3 candidates);
//! - a bottom-up subtree id (kind and child ids) for incremental re-analysis;
//!
//! and the file keeps its token stream as 16-bit symbols (keywords and operators as
//! written, literals abstracted, identifiers as the distance back to the name's previous
//! use, as in Baker's parameterised strings), on which candidate pairs are verified
//! ([`similarity`]).
//!
//! ```
//! use codetable_fingerprint::{fingerprint, FingerprintConfig};
//! use codetable_syntax::{Language, SyntaxParser};
//!
//! let a = b"def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n";
//! let b = b"def add_all(items):\n    acc = 1\n    for i in items:\n        acc += i\n    return acc\n";
//! let config = FingerprintConfig { min_tokens: 5, min_lines: 2 };
//! let mut parser = SyntaxParser::default();
//! let fa = fingerprint(&parser.parse(Language::Python, a).unwrap(), a, &config);
//! let fb = fingerprint(&parser.parse(Language::Python, b).unwrap(), b, &config);
//! let (fa, fb) = (fa.fragments.last().unwrap(), fb.fragments.last().unwrap());
//! assert_ne!(fa.exact_hash, fb.exact_hash); // different names and literals
//! assert_eq!(fa.renamed_hash, fb.renamed_hash); // the same once abstracted
//! ```

pub mod common;
pub mod hash;
mod sketch;
pub mod symbol;
mod table;

pub use hash::{FragmentId, Hash128};
pub use sketch::{SHINGLE, SKETCH_BINS, Sketch, UNBANDED};
pub use table::{
    FragmentKind, FragmentTable, IdIndex, NO_PARENT, RowRecord, RunRow, Span, StatementRecord,
    StreamRange, TableFull,
};

use codetable_syntax::{Category, SyntaxTree, TokenClass};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use hash::{IDENTIFIER, LITERAL, TYPE1_SEED, TYPE2_SEED, key_of_u64s, token_hash};

/// Which fragments are worth fingerprinting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FingerprintConfig {
    /// Fewer tokens than this and a fragment is ignored (default 50).
    pub min_tokens: u32,
    /// Fewer lines than this and a fragment is ignored (default 5).
    pub min_lines: u32,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        FingerprintConfig {
            min_tokens: 50,
            min_lines: 5,
        }
    }
}

/// One candidate fragment and its fingerprints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub category: Category,
    /// Where it is (its `file` is 0 until it joins a [`FragmentTable`]); tokens index
    /// [`FileFingerprint::symbols`].
    pub span: Span,
    /// Type-1 key: token texts, no layout, no comments ([`hash`] defines it).
    pub exact_hash: Hash128,
    /// Type-2 key: identifiers and literals abstracted.
    pub renamed_hash: Hash128,
    /// Bottom-up structural id: node kinds and leaf texts.
    pub subtree_id: u64,
    /// Near-miss sketch of the abstracted tokens.
    pub sketch: Sketch,
    /// The nearest enclosing fragment, as an index into the same file's fragments.
    pub parent: Option<u32>,
    /// Where a declarative fragment's content stream starts in
    /// [`FileFingerprint::content`]; `None` for code. See [`Fragment::is_declarative`].
    pub content_start: Option<u32>,
}

impl Fragment {
    pub fn token_count(&self) -> u32 {
        self.span.tokens()
    }

    pub fn line_count(&self) -> u32 {
        self.span.lines()
    }

    /// Whether this fragment declares rather than computes: an enum, a class, struct or
    /// interface of fields, signatures or stubs (see
    /// [`Node::declarative`](codetable_syntax::Node::declarative)), or a table (no more
    /// names than literals, as a `switch` mapping literals to literals). Such fragments
    /// share their shape with unrelated declarations, so they are compared by content:
    /// their Type-2 hash is their Type-1 hash, and their sketch and verification stream
    /// keep names and literals as written.
    pub fn is_declarative(&self) -> bool {
        self.content_start.is_some()
    }
}

/// The fingerprints of one file.
#[derive(Clone, Debug, Default)]
pub struct FileFingerprint {
    /// The token stream, one 16-bit symbol per token (see [`symbol`]).
    pub symbols: Vec<u16>,
    /// Candidate fragments, ordered by first token, enclosing fragments first.
    pub fragments: Vec<Fragment>,
    /// The content streams of declarative fragments: one 16-bit symbol per token, names
    /// and literals as written (a fold of their text hash, like keywords in `symbols`).
    pub content: Vec<u16>,
    /// The statements of every body with two statements or more and at least
    /// `min_tokens` tokens in all, in position order: where copied runs may be.
    pub statements: Vec<StatementRecord>,
    /// Subtree id of the whole file.
    pub root_id: u64,
}

impl FileFingerprint {
    /// The stream a fragment is verified on: its abstracted symbols, or for a declarative
    /// fragment its content.
    pub fn stream(&self, fragment: &Fragment) -> &[u16] {
        let len = fragment.token_count() as usize;
        match fragment.content_start {
            Some(start) => &self.content[start as usize..start as usize + len],
            None => {
                &self.symbols[fragment.span.first_token as usize..fragment.span.end_token as usize]
            }
        }
    }
}

/// Fingerprinting one file took longer than its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fingerprinting took longer than the time limit")]
pub struct TimedOut;

/// A cheap, well-mixed combination of two 64-bit values (order matters).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(23)).wrapping_mul(0x9fb2_1c65_1e98_df25);
    x ^ (x >> 29)
}

/// The hash of every k-gram of the file's abstracted tokens, as sketches see them (for
/// measuring which grams are common; see [`common`]).
pub fn file_grams(tree: &SyntaxTree, source: &[u8]) -> Vec<u64> {
    let abstracted: Vec<u64> = tree
        .tokens
        .iter()
        .map(|t| match t.class {
            TokenClass::Verbatim => token_hash(&source[t.start as usize..t.end as usize]),
            TokenClass::Identifier => IDENTIFIER,
            TokenClass::Literal => LITERAL,
        })
        .collect();
    let mut grams = Vec::new();
    sketch::shingles(&abstracted, &mut grams);
    grams
}

/// Fingerprints every fragment of `tree` that passes `config`.
pub fn fingerprint(
    tree: &SyntaxTree,
    source: &[u8],
    config: &FingerprintConfig,
) -> FileFingerprint {
    Fingerprinter::default().fingerprint(tree, source, config)
}

/// Fingerprints file after file, reusing its working buffers (one per thread).
#[derive(Debug, Default)]
pub struct Fingerprinter {
    verbatim: Vec<u64>,
    abstracted: Vec<u64>,
    grams: Vec<u64>,
    /// Per gram of `grams`, whether it is weak (see [`sketch::weak_grams`]).
    weak: Vec<bool>,
    /// Per token, prefix sums of what makes a fragment declarative (see [`Tally`]).
    tallies: Vec<Tally>,
    content_grams: Vec<u64>,
    ids: Vec<u64>,
    last_seen: HashMap<u64, usize, BuildHasherDefault<HashedKey>>,
    statements: Vec<(u32, usize)>,
}

impl Fingerprinter {
    /// Fingerprints every fragment of `tree` that passes `config`.
    pub fn fingerprint(
        &mut self,
        tree: &SyntaxTree,
        source: &[u8],
        config: &FingerprintConfig,
    ) -> FileFingerprint {
        self.fingerprint_until(tree, source, config, None)
            .expect("no deadline, no time-out")
    }

    /// [`Fingerprinter::fingerprint`], giving up once `deadline` has passed. The work is
    /// linear in the size of the tree: only fragments within [`MAX_NESTING`] levels are
    /// hashed, and each level covers each token at most once.
    pub fn fingerprint_until(
        &mut self,
        tree: &SyntaxTree,
        source: &[u8],
        config: &FingerprintConfig,
        deadline: Option<Instant>,
    ) -> Result<FileFingerprint, TimedOut> {
        let verbatim = &mut self.verbatim;
        verbatim.clear();
        verbatim.extend(
            tree.tokens
                .iter()
                .map(|t| token_hash(&source[t.start as usize..t.end as usize])),
        );
        let abstracted = &mut self.abstracted;
        abstracted.clear();
        abstracted.extend(
            tree.tokens
                .iter()
                .zip(verbatim.iter())
                .map(|(t, &h)| match t.class {
                    TokenClass::Verbatim => h,
                    TokenClass::Identifier => IDENTIFIER,
                    TokenClass::Literal => LITERAL,
                }),
        );
        let symbols = symbols(tree, verbatim, &mut self.last_seen);
        sketch::shingles(abstracted, &mut self.grams);
        sketch::weak_grams(&self.grams, &mut self.weak);
        tally(tree, &mut self.tallies);
        let grams = &self.grams;

        let mut fragments = Vec::new();
        let ids = &mut self.ids;
        ids.clear();
        let statements = &mut self.statements;
        statements.clear();
        for (n, node) in tree.nodes.iter().enumerate() {
            if n % 4096 == 4095 && deadline.is_some_and(|d| Instant::now() > d) {
                return Err(TimedOut);
            }
            let first_child = ids.len() - node.children as usize;
            let id = if node.children == 0 && node.end_token > node.first_token {
                mix(node.kind as u64, verbatim[node.first_token as usize])
            } else {
                ids[first_child..]
                    .iter()
                    .fold(node.kind as u64, |acc, &c| mix(acc, c))
            };
            ids.truncate(first_child);
            ids.push(id);
            if node.statement_of != 0
                && node.end_token > node.first_token
                && (node.depth as usize) < MAX_NESTING
            {
                statements.push((node.statement_of, n));
            }
            let Some(category) = node.category else {
                continue;
            };
            let (first, end) = (node.first_token as usize, node.end_token as usize);
            if (end - first) < config.min_tokens as usize
                || node.end_line - node.start_line + 1 < config.min_lines
                || node.depth as usize >= MAX_NESTING
            {
                continue;
            }
            let inside = self.tallies[end].minus(self.tallies[first]);
            // A table (no more names than literals) is compared by content, like enums
            // and field lists.
            let declarative = node.declarative || inside.identifiers <= inside.literals;
            let exact_hash = key_of_u64s(&verbatim[first..end], TYPE1_SEED);
            let (renamed_hash, sketch) = if declarative {
                sketch::shingles(&verbatim[first..end], &mut self.content_grams);
                (exact_hash, Sketch::of(&self.content_grams))
            } else {
                (
                    key_of_u64s(&abstracted[first..end], TYPE2_SEED),
                    // Gram `i` covers tokens `i..i + SHINGLE`: those inside the
                    // fragment (none for a fragment shorter than a gram).
                    Sketch::of_marked(
                        grams
                            .get(first..end.saturating_sub(SHINGLE - 1))
                            .unwrap_or_default(),
                        self.weak
                            .get(first..end.saturating_sub(SHINGLE - 1))
                            .unwrap_or_default(),
                    ),
                )
            };
            fragments.push(Fragment {
                category,
                span: span_of(
                    tree,
                    source,
                    node.first_token,
                    node.end_token,
                    node.start_line,
                ),
                exact_hash,
                renamed_hash,
                subtree_id: id,
                sketch,
                parent: None,
                // Marks the fragment declarative; `content_streams` sets the offset.
                content_start: declarative.then_some(0),
            });
        }
        nest(&mut fragments);
        let content = content_streams(&mut fragments, verbatim);
        let statements = statement_records(
            tree,
            source,
            config,
            &mut self.statements,
            (verbatim, abstracted),
            &self.tallies,
        );
        Ok(FileFingerprint {
            symbols,
            fragments,
            content,
            statements,
            root_id: ids.last().copied().unwrap_or(0),
        })
    }
}

/// The span of tokens `first..end` (not empty) of a node starting on `start_line` (0 when
/// unknown: the first token's line is taken).
fn span_of(tree: &SyntaxTree, source: &[u8], first: u32, end: u32, start_line: u32) -> Span {
    let (a, b) = (&tree.tokens[first as usize], &tree.tokens[end as usize - 1]);
    let column = |at: u32| {
        let line_start = source[..at as usize]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        at - line_start as u32 + 1
    };
    let last_byte = b.end.saturating_sub(1).max(b.start);
    let newlines_in_last = source[b.start as usize..last_byte as usize]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u32;
    Span {
        file: 0,
        first_token: first,
        end_token: end,
        start_byte: a.start,
        end_byte: b.end,
        start_line: if start_line == 0 { a.line } else { start_line },
        end_line: b.line + newlines_in_last,
        start_col: column(a.start),
        end_col: column(last_byte) + 1,
    }
}

/// The statements worth keeping (see [`FileFingerprint::statements`]) from `found`: (body,
/// node) pairs in post-order, where a body's statements come in source order.
fn statement_records(
    tree: &SyntaxTree,
    source: &[u8],
    config: &FingerprintConfig,
    found: &mut [(u32, usize)],
    (verbatim, abstracted): (&[u64], &[u64]),
    tallies: &[Tally],
) -> Vec<StatementRecord> {
    // Group by body, keeping source order inside each (the sort is stable).
    found.sort_by_key(|&(body, _)| body);
    let mut out = Vec::new();
    for group in found.chunk_by(|a, b| a.0 == b.0) {
        let tokens: u32 = group
            .iter()
            .map(|&(_, n)| tree.nodes[n].end_token - tree.nodes[n].first_token)
            .sum();
        if group.len() < 2 || tokens < config.min_tokens {
            continue;
        }
        out.extend(group.iter().map(|&(body, n)| {
            let node = &tree.nodes[n];
            let (first, end) = (node.first_token as usize, node.end_token as usize);
            let exact = key_of_u64s(&verbatim[first..end], TYPE1_SEED).lo as u32;
            // A table row (`case 200: return "OK";`) is compared by content, as
            // declarative fragments are.
            let inside = tallies[end].minus(tallies[first]);
            let renamed = if inside.identifiers <= inside.literals {
                exact
            } else {
                key_of_u64s(&abstracted[first..end], TYPE2_SEED).lo as u32
            };
            StatementRecord {
                span: span_of(tree, source, node.first_token, node.end_token, 0),
                body,
                exact,
                renamed,
            }
        }));
    }
    out.sort_by_key(|s| (s.body, s.span.first_token));
    out
}

/// Counts of names and literals over a run of tokens.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    identifiers: u32,
    literals: u32,
}

impl Tally {
    fn minus(self, before: Tally) -> Tally {
        Tally {
            identifiers: self.identifiers - before.identifiers,
            literals: self.literals - before.literals,
        }
    }
}

/// Prefix sums of [`Tally`]: `out[i]` counts the tokens before `i` (`out` has one more
/// entry than there are tokens).
fn tally(tree: &SyntaxTree, out: &mut Vec<Tally>) {
    out.clear();
    let mut total = Tally::default();
    out.push(total);
    for t in &tree.tokens {
        match t.class {
            TokenClass::Identifier => total.identifiers += 1,
            TokenClass::Literal => total.literals += 1,
            TokenClass::Verbatim => {}
        }
        out.push(total);
    }
}

/// Lays out the content streams of the declarative fragments (marked by a `Some`
/// `content_start`): one stream per outermost declarative fragment, which the declarative
/// fragments nested in it share. Returns the streams, allocated to their exact size.
fn content_streams(fragments: &mut [Fragment], verbatim: &[u64]) -> Vec<u16> {
    // The token range of the last stream laid out, and where it starts in the streams.
    let mut last: Option<(u32, u32, u32)> = None;
    let mut streams: Vec<(u32, u32)> = Vec::new();
    let mut total = 0u32;
    for fragment in fragments.iter_mut() {
        if fragment.content_start.is_none() {
            continue;
        }
        let start = match last {
            Some((first, end, at))
                if first <= fragment.span.first_token && fragment.span.end_token <= end =>
            {
                at + (fragment.span.first_token - first)
            }
            _ => {
                let at = total;
                total += fragment.token_count();
                streams.push((fragment.span.first_token, fragment.span.end_token));
                last = Some((fragment.span.first_token, fragment.span.end_token, at));
                at
            }
        };
        fragment.content_start = Some(start);
    }
    let mut content = Vec::with_capacity(total as usize);
    for (first, end) in streams {
        content.extend(
            verbatim[first as usize..end as usize]
                .iter()
                .map(|&h| verbatim_symbol(h)),
        );
    }
    content
}

/// Fragments nested deeper than this inside other fragments are ignored, before any hash
/// is computed: real code stays well inside it, and it bounds the work on pathological
/// nesting (a 40,000-branch `else if` chain) to a linear amount, since each nesting level
/// covers each token at most once.
pub const MAX_NESTING: usize = 24;

/// Orders fragments outermost-first, drops repeats of one token range (a node whose only
/// child spans the same tokens) and links each to its nearest enclosing fragment.
fn nest(fragments: &mut Vec<Fragment>) {
    fragments.sort_by_key(|f| (f.span.first_token, std::cmp::Reverse(f.span.end_token)));
    fragments.dedup_by_key(|f| (f.span.first_token, f.span.end_token));
    link_parents(fragments);
}

fn link_parents(fragments: &mut [Fragment]) {
    let mut open: Vec<usize> = Vec::new();
    for i in 0..fragments.len() {
        while let Some(&top) = open.last() {
            if fragments[top].span.contains(&fragments[i].span) {
                break;
            }
            open.pop();
        }
        fragments[i].parent = open.last().map(|&p| p as u32);
        open.push(i);
    }
}

/// A fast hasher for keys that are hashes already (Type-1/Type-2 keys, ids): a
/// multiply-rotate fold of the words written (as rustc's FxHash).
#[derive(Clone, Copy, Debug, Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u16(&mut self, word: u16) {
        self.write_u64(word as u64);
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(word as u64);
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// A hash set of keys that are hashes already (see [`WordHasher`]).
pub type KeySet<T> = std::collections::HashSet<T, BuildHasherDefault<WordHasher>>;

/// Hashes a key that is already a uniform hash (a token's XXH3) by taking it as it is.
#[derive(Default)]
struct HashedKey(u64);

impl Hasher for HashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, b as u64);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// A token's text hash folded into a symbol below [`symbol::LITERAL`].
fn verbatim_symbol(h: u64) -> u16 {
    ((h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) as u16) % symbol::LITERAL
}

/// The file's token stream as verification symbols ([`symbol`] tells the encoding).
fn symbols(
    tree: &SyntaxTree,
    verbatim: &[u64],
    last_seen: &mut HashMap<u64, usize, BuildHasherDefault<HashedKey>>,
) -> Vec<u16> {
    last_seen.clear();
    tree.tokens
        .iter()
        .zip(verbatim)
        .enumerate()
        .map(|(i, (t, &h))| match t.class {
            TokenClass::Verbatim => verbatim_symbol(h),
            TokenClass::Literal => symbol::LITERAL,
            TokenClass::Identifier => {
                let distance = last_seen.insert(h, i).map_or(0, |j| i - j);
                symbol::IDENTIFIER | distance.min(symbol::MAX_DISTANCE as usize) as u16
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use codetable_syntax::{Language, SyntaxParser};

    fn fragments(language: Language, src: &str, config: &FingerprintConfig) -> FileFingerprint {
        let mut parser = SyntaxParser::default();
        let tree = parser.parse(language, src.as_bytes()).unwrap();
        fingerprint(tree, src.as_bytes(), config)
    }

    const SMALL: FingerprintConfig = FingerprintConfig {
        min_tokens: 12,
        min_lines: 3,
    };

    const FUNC: &str = "fn area(w: u32, h: u32) -> u32 {\n    let a = w * h;\n    if a > 10 {\n        return a - 1;\n    }\n    a + 2\n}\n";

    #[test]
    fn layout_and_comments_do_not_change_the_exact_hash() {
        let relaid = "fn area(w: u32,\n h: u32) -> u32 { // area\n let a = w*h; if a > 10 { return a - 1; }\n /* sum */ a + 2\n}\n";
        let a = fragments(Language::Rust, FUNC, &SMALL);
        let b = fragments(Language::Rust, relaid, &SMALL);
        assert_eq!(a.fragments[0].exact_hash, b.fragments[0].exact_hash);
        assert_eq!(a.fragments[0].subtree_id, b.fragments[0].subtree_id);
    }

    #[test]
    fn renaming_changes_the_exact_hash_but_not_the_renamed_hash() {
        let renamed = FUNC
            .replace("area", "size")
            .replace('w', "x")
            .replace("10", "99");
        let a = fragments(Language::Rust, FUNC, &SMALL);
        let b = fragments(Language::Rust, &renamed, &SMALL);
        assert_ne!(a.fragments[0].exact_hash, b.fragments[0].exact_hash);
        assert_eq!(a.fragments[0].renamed_hash, b.fragments[0].renamed_hash);
        assert_eq!(a.fragments[0].sketch, b.fragments[0].sketch);
    }

    #[test]
    fn a_changed_operator_changes_the_renamed_hash() {
        let edited = FUNC.replace("w * h", "w + h");
        let a = fragments(Language::Rust, FUNC, &SMALL);
        let b = fragments(Language::Rust, &edited, &SMALL);
        assert_ne!(a.fragments[0].renamed_hash, b.fragments[0].renamed_hash);
    }

    #[test]
    fn small_fragments_are_ignored_and_parents_are_linked() {
        let fp = fragments(Language::Rust, FUNC, &SMALL);
        assert_eq!(fp.fragments.len(), 1, "the `if` has 10 tokens");
        let loose = FingerprintConfig {
            min_tokens: 5,
            min_lines: 1,
        };
        let fp = fragments(Language::Rust, FUNC, &loose);
        let categories: Vec<_> = fp.fragments.iter().map(|f| f.category).collect();
        assert_eq!(categories, [Category::Function, Category::Conditional]);
        assert_eq!(fp.fragments[1].parent, Some(0));
        assert_eq!(fp.fragments[0].parent, None);
    }
}
