//! Mutated copies of real functions, the way clone-detection benchmarks make them (Roy and
//! Cordy's mutation framework): layout and comment edits (Type-1), consistent renaming and
//! literal changes (Type-2), statements deleted, inserted or changed (Type-3) and
//! statements reordered.

use std::ops::Range;

use codetable::Language;

/// Per-language facts the mutator needs.
pub struct Dialect {
    pub language: Language,
    pub extension: &'static str,
    pub functions: &'static [&'static str],
    pub methods: &'static [&'static str],
    pub statements: &'static [&'static str],
    pub identifiers: &'static [&'static str],
    pub literals: &'static [&'static str],
    pub line_comment: &'static str,
    /// Wrapper around a method copied on its own (header line, footer line).
    pub method_wrapper: Option<(&'static str, &'static str)>,
}

pub const DIALECTS: &[Dialect] = &[
    Dialect {
        language: Language::Rust,
        extension: "rs",
        functions: &["function_item"],
        methods: &[],
        statements: &["let_declaration", "expression_statement"],
        identifiers: &["identifier", "field_identifier", "type_identifier"],
        literals: &["integer_literal", "string_literal"],
        line_comment: "//",
        method_wrapper: Some(("impl Mutant {", "}")),
    },
    Dialect {
        language: Language::Python,
        extension: "py",
        functions: &["function_definition"],
        methods: &[],
        statements: &[
            "expression_statement",
            "return_statement",
            "raise_statement",
            "assert_statement",
        ],
        identifiers: &["identifier"],
        literals: &["integer", "string"],
        line_comment: "#",
        method_wrapper: None,
    },
    Dialect {
        language: Language::JavaScript,
        extension: "js",
        functions: &["function_declaration"],
        methods: &["method_definition"],
        statements: &[
            "expression_statement",
            "lexical_declaration",
            "variable_declaration",
            "return_statement",
            "throw_statement",
        ],
        identifiers: &[
            "identifier",
            "property_identifier",
            "shorthand_property_identifier",
        ],
        literals: &["number", "string"],
        line_comment: "//",
        method_wrapper: Some(("class Mutant {", "}")),
    },
    Dialect {
        language: Language::Java,
        extension: "java",
        functions: &[],
        methods: &["method_declaration", "constructor_declaration"],
        statements: &[
            "local_variable_declaration",
            "expression_statement",
            "return_statement",
            "throw_statement",
        ],
        identifiers: &["identifier", "type_identifier"],
        literals: &["decimal_integer_literal", "string_literal"],
        line_comment: "//",
        method_wrapper: Some(("class Mutant {", "}")),
    },
    Dialect {
        language: Language::C,
        extension: "c",
        functions: &["function_definition"],
        methods: &[],
        statements: &["expression_statement", "declaration", "return_statement"],
        identifiers: &["identifier", "field_identifier", "type_identifier"],
        literals: &["number_literal", "string_literal"],
        line_comment: "//",
        method_wrapper: None,
    },
];

/// The edits a mutant is made with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mutation {
    /// Comments added, spacing changed.
    Layout,
    /// Every identifier renamed consistently, literals changed.
    Rename,
    /// Renamed, then this fraction of statements deleted, inserted after or changed.
    Edit(f64),
    /// Adjacent statements swapped (about a fifth of them).
    Reorder,
}

impl Mutation {
    pub fn label(self) -> String {
        match self {
            Mutation::Layout => "Type-1 (layout, comments)".into(),
            Mutation::Rename => "Type-2 (renamed, literals)".into(),
            Mutation::Edit(p) => format!("Type-3 ({:.0}% statements)", p * 100.0),
            Mutation::Reorder => "reordered statements".into(),
        }
    }
}

/// A function found in the corpus, with what mutations need to know of it.
pub struct Function {
    /// Path relative to the corpus root.
    pub path: String,
    /// 1-based inclusive lines in the original file.
    pub start_line: u32,
    pub end_line: u32,
    pub is_method: bool,
    /// The function's whole lines.
    pub text: String,
    /// Byte ranges in `text`.
    pub identifiers: Vec<Range<usize>>,
    pub literals: Vec<Range<usize>>,
    pub operators: Vec<Range<usize>>,
    pub call_ends: Vec<usize>,
    /// Simple statements: whole lines (0-based line range in `text`), with a parent id.
    pub statements: Vec<Statement>,
    pub tokens: usize,
    /// The function's node in the file's bytes (the history test sizes functions by it).
    #[allow(dead_code)]
    pub bytes: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Statement {
    pub lines: Range<usize>,
    pub bytes: Range<usize>,
    pub parent: usize,
}

const OPERATORS: &[&str] = &["+", "-", "*", "<", ">", "<=", ">=", "==", "!=", "&&", "||"];

fn swap_operator(op: &str) -> &'static str {
    match op {
        "+" => "-",
        "-" => "+",
        "*" => "+",
        "<" => "<=",
        ">" => ">=",
        "<=" => "<",
        ">=" => ">",
        "==" => "!=",
        "!=" => "==",
        "&&" => "||",
        _ => "&&",
    }
}

/// Finds the functions of one parsed file worth mutating.
pub fn functions(dialect: &Dialect, path: &str, source: &str) -> Vec<Function> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&dialect.language.grammar()).unwrap();
    let tree = parser.parse(source, None).unwrap();
    let mut found = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        let kind = node.kind();
        let is_method = dialect.methods.contains(&kind);
        if (dialect.functions.contains(&kind) || is_method) && !node.has_error() {
            if let Some(f) = describe(dialect, path, source, node, is_method) {
                found.push(f);
            }
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    found.sort_by_key(|f| f.start_line);
    found
}

fn describe(
    dialect: &Dialect,
    path: &str,
    source: &str,
    node: tree_sitter::Node,
    is_method: bool,
) -> Option<Function> {
    let line_start = source[..node.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[node.end_byte()..]
        .find('\n')
        .map_or(source.len(), |i| node.end_byte() + i + 1);
    let text = &source[line_start..line_end];
    if !source[node.end_byte()..line_end].trim().is_empty() {
        return None;
    }
    let mut f = Function {
        path: path.to_string(),
        start_line: node.start_position().row as u32 + 1,
        end_line: node.end_position().row as u32 + 1,
        is_method,
        text: text.to_string(),
        identifiers: Vec::new(),
        literals: Vec::new(),
        operators: Vec::new(),
        call_ends: Vec::new(),
        statements: Vec::new(),
        tokens: 0,
        bytes: node.byte_range(),
    };
    let local = |r: Range<usize>| r.start - line_start..r.end - line_start;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        let kind = n.kind();
        if kind.contains("comment") {
            continue;
        }
        if n.child_count() == 0 || dialect.literals.contains(&kind) {
            f.tokens += 1;
        }
        let range = local(n.byte_range());
        let one_line = !f.text[range.clone()].contains('\n');
        if dialect.identifiers.contains(&kind) && one_line {
            f.identifiers.push(range.clone());
        } else if dialect.literals.contains(&kind) {
            if one_line {
                f.literals.push(range);
            }
            continue;
        } else if !n.is_named() && OPERATORS.contains(&kind) {
            f.operators.push(range.clone());
        } else if kind == "arguments" || kind == "argument_list" {
            f.call_ends.push(range.end - 1);
        }
        if dialect.statements.contains(&kind)
            && let Some(s) = simple_statement(dialect, &f.text, n, line_start)
        {
            f.statements.push(s);
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    for v in [&mut f.identifiers, &mut f.literals, &mut f.operators] {
        v.sort_by_key(|r| r.start);
    }
    f.call_ends.sort_unstable();
    f.statements.sort_by_key(|s| s.lines.start);
    // Statements containing other statements are not simple.
    let all = f.statements.clone();
    f.statements.retain(|s| {
        !all.iter().any(|o| {
            o.bytes != s.bytes && o.bytes.start >= s.bytes.start && o.bytes.end <= s.bytes.end
        })
    });
    f.statements.dedup_by(|b, a| a.lines.end > b.lines.start);
    Some(f)
}

/// A statement that spans whole lines (at most three), inside a block of two or more.
fn simple_statement(
    dialect: &Dialect,
    text: &str,
    n: tree_sitter::Node,
    line_start: usize,
) -> Option<Statement> {
    let parent = n.parent()?;
    if parent.named_child_count() < 2 || dialect.statements.contains(&parent.kind()) {
        return None;
    }
    let (start, end) = (n.start_byte() - line_start, n.end_byte() - line_start);
    let first = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let last = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    if !text[first..start].trim().is_empty() || !text[end..last].trim().is_empty() {
        return None;
    }
    let line0 = text[..first].matches('\n').count();
    let lines = text[first..last].matches('\n').count().max(1);
    if lines > 3 {
        return None;
    }
    Some(Statement {
        lines: line0..line0 + lines,
        bytes: first..last,
        parent: parent.id(),
    })
}

/// A small deterministic random source (xorshift).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    /// `k` distinct indices below `n`, ascending.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        let mut picked = all[..k.min(n)].to_vec();
        picked.sort_unstable();
        picked
    }
}

/// Byte edits applied from the back, so earlier ranges stay valid.
fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    let mut floor = usize::MAX;
    for (range, replacement) in edits {
        if range.end > floor {
            continue; // overlaps a later edit
        }
        out.replace_range(range.clone(), &replacement);
        floor = range.start;
    }
    out
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Consistent renaming of identifiers and new literal values, as byte edits.
fn renames(f: &Function) -> Vec<(Range<usize>, String)> {
    let mut names: std::collections::HashMap<&str, usize> = Default::default();
    let mut edits = Vec::new();
    for r in &f.identifiers {
        let name = &f.text[r.clone()];
        let n = names.len();
        let id = *names.entry(name).or_insert(n);
        edits.push((r.clone(), format!("ren{id}")));
    }
    for (i, r) in f.literals.iter().enumerate() {
        let lit = &f.text[r.clone()];
        let replacement = if lit.chars().all(|c| c.is_ascii_digit()) {
            format!("{}", 7 + i * 3)
        } else if lit.len() >= 2 && lit.starts_with('"') && lit.ends_with('"') {
            format!("\"lit{i}\"")
        } else if lit.len() >= 2 && lit.starts_with('\'') && lit.ends_with('\'') && lit.len() > 3 {
            format!("'lit{i}'")
        } else {
            continue;
        };
        edits.push((r.clone(), replacement));
    }
    edits
}

/// Makes the mutant of `f`; `donors` are statements (lines) from other functions.
pub fn mutate(
    dialect: &Dialect,
    f: &Function,
    mutation: Mutation,
    donors: &[String],
    rng: &mut Rng,
) -> String {
    match mutation {
        Mutation::Layout => {
            let mut edits: Vec<(Range<usize>, String)> = Vec::new();
            for r in &f.call_ends {
                edits.push((*r..*r, " ".into()));
            }
            for s in &f.statements {
                if rng.below(3) == 0 {
                    let end = s.bytes.end - 1; // before the newline
                    edits.push((end..end, format!("  {} note", dialect.line_comment)));
                }
            }
            if let Some(s) = f.statements.first() {
                let line = &f.text[s.bytes.clone()];
                let comment = format!("{}{} a comment\n", indent_of(line), dialect.line_comment);
                edits.push((s.bytes.start..s.bytes.start, comment));
            }
            apply(&f.text, edits)
        }
        Mutation::Rename => apply(&f.text, renames(f)),
        Mutation::Edit(fraction) => {
            let n = f.statements.len();
            let k = ((n as f64 * fraction).round() as usize).max(1);
            let chosen = rng.choose(n, k);
            // First the in-statement changes (byte level), with the renames.
            let mut edits = renames(f);
            let mut line_ops: Vec<(usize, LineOp)> = Vec::new();
            for &i in &chosen {
                let s = &f.statements[i];
                let donor = &donors[rng.below(donors.len())];
                match rng.below(3) {
                    0 => line_ops.push((i, LineOp::Delete)),
                    1 => line_ops.push((i, LineOp::InsertAfter(donor.clone()))),
                    _ => {
                        let inside =
                            |r: &Range<usize>| r.start >= s.bytes.start && r.end <= s.bytes.end;
                        let ops: Vec<_> = f.operators.iter().filter(|r| inside(r)).collect();
                        let calls: Vec<_> = f
                            .call_ends
                            .iter()
                            .filter(|&&e| s.bytes.contains(&e))
                            .collect();
                        if !ops.is_empty() && rng.below(2) == 0 {
                            let r = ops[rng.below(ops.len())].clone();
                            let op = swap_operator(&f.text[r.clone()]);
                            edits.push((r, op.into()));
                        } else if !calls.is_empty() {
                            let e = *calls[rng.below(calls.len())];
                            let empty = f.text[..e].trim_end().ends_with('(');
                            edits.push((
                                e..e,
                                if empty {
                                    "extra".into()
                                } else {
                                    ", extra".into()
                                },
                            ));
                        } else {
                            line_ops.push((i, LineOp::Replace(donor.clone())));
                        }
                    }
                }
            }
            // Keep byte edits off the lines that line operations remove.
            let gone: Vec<Range<usize>> = line_ops
                .iter()
                .filter(|(_, op)| !matches!(op, LineOp::InsertAfter(_)))
                .map(|(i, _)| f.statements[*i].bytes.clone())
                .collect();
            edits.retain(|(r, _)| !gone.iter().any(|g| r.start >= g.start && r.end <= g.end));
            let renamed = apply(&f.text, edits);
            apply_line_ops(&renamed, &f.text, f, line_ops)
        }
        Mutation::Reorder => {
            let pairs: Vec<usize> = (0..f.statements.len().saturating_sub(1))
                .filter(|&i| {
                    let (a, b) = (&f.statements[i], &f.statements[i + 1]);
                    a.parent == b.parent && a.lines.end == b.lines.start
                })
                .collect();
            let swaps = ((f.statements.len() as f64 * 0.1).round() as usize).max(1);
            let mut used = std::collections::HashSet::new();
            let mut edits = Vec::new();
            for &p in &rng.choose(pairs.len(), swaps * 2) {
                let i = pairs[p];
                if used.contains(&i) || used.contains(&(i + 1)) || edits.len() == swaps {
                    continue;
                }
                used.extend([i, i + 1]);
                let (a, b) = (&f.statements[i], &f.statements[i + 1]);
                let swapped = format!("{}{}", &f.text[b.bytes.clone()], &f.text[a.bytes.clone()]);
                edits.push((a.bytes.start..b.bytes.end, swapped));
            }
            apply(&f.text, edits)
        }
    }
}

enum LineOp {
    Delete,
    InsertAfter(String),
    Replace(String),
}

/// Applies statement-level operations. Byte edits never add or remove lines, so the
/// statements' line ranges in `original` hold in `edited` too.
fn apply_line_ops(
    edited: &str,
    original: &str,
    f: &Function,
    mut ops: Vec<(usize, LineOp)>,
) -> String {
    debug_assert_eq!(edited.matches('\n').count(), original.matches('\n').count());
    let mut lines: Vec<String> = edited.split_inclusive('\n').map(str::to_string).collect();
    ops.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    for (i, op) in ops {
        let s = &f.statements[i];
        let indent = indent_of(&lines[s.lines.start]).to_string();
        let donor_lines = |d: &str| -> Vec<String> {
            let base = indent_of(d.lines().next().unwrap_or("")).to_string();
            d.split_inclusive('\n')
                .map(|l| {
                    format!(
                        "{indent}{}",
                        l.strip_prefix(base.as_str()).unwrap_or(l.trim_start())
                    )
                })
                .collect()
        };
        match op {
            LineOp::Delete => {
                lines.drain(s.lines.clone());
            }
            LineOp::InsertAfter(d) => {
                let at = s.lines.end;
                lines.splice(at..at, donor_lines(&d));
            }
            LineOp::Replace(d) => {
                lines.splice(s.lines.clone(), donor_lines(&d));
            }
        }
    }
    lines.concat()
}

/// The statements of `f` as donor text for other functions.
pub fn donor_statements(f: &Function) -> Vec<String> {
    f.statements
        .iter()
        .filter(|s| s.lines.len() == 1)
        .map(|s| f.text[s.bytes.clone()].to_string())
        .collect()
}

/// The mutant as a file: the function, wrapped where a method cannot stand alone.
/// Returns the file text and the 1-based line the function starts on.
pub fn mutant_file(dialect: &Dialect, f: &Function, mutant: &str) -> (String, u32) {
    let body = if dialect.language == Language::Python {
        dedent(mutant)
    } else {
        mutant.to_string()
    };
    match dialect.method_wrapper {
        Some((head, foot)) if f.is_method || dialect.language == Language::Rust => {
            (format!("{head}\n{body}{foot}\n"), 2)
        }
        _ => (body, 1),
    }
}

fn dedent(text: &str) -> String {
    let indent = indent_of(text.lines().next().unwrap_or("")).to_string();
    text.split_inclusive('\n')
        .map(|l| l.strip_prefix(indent.as_str()).unwrap_or(l))
        .collect()
}
