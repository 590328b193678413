//! Parsing a file and flattening its tree into tokens and post-order nodes, iteratively, so
//! that deep nesting never overflows the stack.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::language::KindRole;
use crate::{Category, Language};

/// What a token is to normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenClass {
    /// Keywords, operators, punctuation and other named leaves: kept as written.
    Verbatim,
    /// A name: abstracted in Type-2 normalisation.
    Identifier,
    /// A literal (taken whole): abstracted in Type-2 normalisation.
    Literal,
}

/// One leaf of the tree (comments and imports excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// tree-sitter kind id.
    pub kind: u16,
    pub class: TokenClass,
    /// 1-based line of the token's first byte.
    pub line: u32,
    /// Byte range in the source.
    pub start: u32,
    pub end: u32,
}

/// One node of the tree, in post-order: a node's children are the `children` entries
/// completed just before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// tree-sitter kind id.
    pub kind: u16,
    /// The universal category, when this kind is a candidate fragment.
    pub category: Option<Category>,
    /// Token range `first_token..end_token` covered by the node.
    pub first_token: u32,
    pub end_token: u32,
    /// 1-based inclusive line range, for fragments and leaves (0 for other nodes).
    pub start_line: u32,
    pub end_line: u32,
    /// Number of direct children kept in the flattening.
    pub children: u32,
    /// How many fragment nodes (nodes with a category) enclose this one.
    pub depth: u16,
    /// Whether this fragment declares rather than computes: an enum (its enumerators
    /// abstract to the same stream whatever they name) or a class, struct or interface,
    /// with no code in it: no loop, branch or lambda, and no function body holding two
    /// names or more (fields, signatures, stubs).
    pub declarative: bool,
    /// For a statement (a named child of a function, loop or branch body), its body: the
    /// statements of one body share this number, 1 and up in the order bodies open; 0 for
    /// every other node. Runs of sibling statements are matched across fragments.
    pub statement_of: u32,
}

/// A flattened parse of one file.
#[derive(Clone, Debug, Default)]
pub struct SyntaxTree {
    pub tokens: Vec<Token>,
    /// Every kept node in post-order (the root last).
    pub nodes: Vec<Node>,
    /// Whether tree-sitter recovered from syntax errors (ERROR or MISSING nodes).
    pub has_errors: bool,
    /// How many ERROR and MISSING nodes the tree holds.
    pub error_nodes: u32,
    /// 1-based line of the first ERROR or MISSING node (0 when there is none).
    pub first_error_line: u32,
}

impl SyntaxTree {
    /// The source bytes of token `index`.
    pub fn token_text<'s>(&self, source: &'s [u8], index: usize) -> &'s [u8] {
        let t = &self.tokens[index];
        &source[t.start as usize..t.end as usize]
    }
}

/// Why a file could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("parsing took longer than {0:?}; the file is skipped (raise --parse-timeout?)")]
    Timeout(Duration),
    #[error("the {0} grammar could not be loaded: {1}")]
    Grammar(&'static str, String),
    #[error("file is larger than 4 GiB")]
    TooLarge,
}

/// A reusable parser for every language: one per thread (tree-sitter parsers are `Send`,
/// not `Sync`).
pub struct SyntaxParser {
    parser: tree_sitter::Parser,
    current: Option<Language>,
    timeout: Duration,
    /// The last flattened tree; its buffers are reused by the next parse.
    tree: SyntaxTree,
    stack: Vec<Frame>,
}

impl std::fmt::Debug for SyntaxParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntaxParser")
            .field("current", &self.current)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for SyntaxParser {
    fn default() -> Self {
        SyntaxParser::with_timeout(Duration::from_secs(20))
    }
}

impl SyntaxParser {
    /// A parser that gives up on one file after `timeout`.
    pub fn with_timeout(timeout: Duration) -> SyntaxParser {
        SyntaxParser {
            parser: tree_sitter::Parser::new(),
            current: None,
            timeout,
            tree: SyntaxTree::default(),
            stack: Vec::new(),
        }
    }

    /// Parses `source` and flattens the tree. Syntax errors are tolerated. The tree lives in
    /// the parser's buffers (reused from file to file) until the next parse.
    pub fn parse(&mut self, language: Language, source: &[u8]) -> Result<&SyntaxTree, ParseError> {
        self.parse_until(language, source, Instant::now() + self.timeout)
    }

    /// [`SyntaxParser::parse`], giving up at `deadline` (the caller's time limit for the
    /// whole file, of which parsing is a part).
    pub fn parse_until(
        &mut self,
        language: Language,
        source: &[u8],
        deadline: Instant,
    ) -> Result<&SyntaxTree, ParseError> {
        if u32::try_from(source.len()).is_err() {
            return Err(ParseError::TooLarge);
        }
        if self.current != Some(language) {
            self.parser
                .set_language(&language.grammar())
                .map_err(|e| ParseError::Grammar(language.name(), e.to_string()))?;
            self.current = Some(language);
        }
        let mut past_deadline = |_: &tree_sitter::ParseState| {
            if Instant::now() > deadline {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut past_deadline);
        let mut read = |offset: usize, _| &source[offset.min(source.len())..];
        let tree = self
            .parser
            .parse_with_options(&mut read, None, Some(options));
        let Some(tree) = tree else {
            // A cancelled parse leaves state behind; the next parse must start afresh.
            self.parser.reset();
            return Err(ParseError::Timeout(self.timeout));
        };
        flatten(language, &tree, &mut self.tree, &mut self.stack);
        Ok(&self.tree)
    }
}

/// A node being visited: completed when the cursor leaves it.
struct Frame {
    kind: u16,
    category: Option<Category>,
    /// Fragment nodes enclosing this one, and this one.
    depth: u16,
    /// An enumerator list is among the children.
    enum_body: bool,
    /// Holds code: a loop, branch, lambda, or a function body with two names or more.
    code: bool,
    /// Identifier tokens before this node, to count those inside a function body.
    identifiers_before: u32,
    /// This node's number as a statement body (see [`Node::statement_of`]), 0 if it is none.
    body: u32,
    /// The body this node is a statement of, 0 if none.
    statement_of: u32,
    /// Nearest enclosing non-block category, this node included (tells methods apart).
    enclosing: Option<Category>,
    first_token: u32,
    start_line: u32,
    end_line: u32,
    children: u32,
}

/// tree-sitter's kind id of ERROR nodes.
const ERROR_KIND: u16 = u16::MAX;

fn flatten(
    language: Language,
    tree: &tree_sitter::Tree,
    out: &mut SyntaxTree,
    stack: &mut Vec<Frame>,
) {
    let table = language.kinds();
    out.tokens.clear();
    out.nodes.clear();
    out.has_errors = tree.root_node().has_error();
    out.error_nodes = 0;
    out.first_error_line = 0;
    stack.clear();
    let mut cursor = tree.walk();
    // Identifier tokens so far (shared by the completion closure and the walk).
    let identifiers = std::cell::Cell::new(0u32);
    let mut bodies = 0u32;

    // Completes the top frame into a post-order node.
    let finish = |stack: &mut Vec<Frame>, out: &mut SyntaxTree| {
        let frame = stack.pop().expect("a frame per entered node");
        let end_token = out.tokens.len() as u32;
        out.nodes.push(Node {
            kind: frame.kind,
            category: frame.category,
            first_token: frame.first_token,
            end_token,
            start_line: frame.start_line,
            end_line: frame.end_line,
            children: frame.children,
            depth: frame.depth - frame.category.is_some() as u16,
            declarative: (frame.enum_body || frame.category == Some(Category::Class))
                && !frame.code,
            statement_of: frame.statement_of,
        });
        if let Some(parent) = stack.last_mut() {
            let function_body = table.is_body(frame.kind)
                && matches!(
                    parent.category,
                    Some(Category::Function | Category::Method | Category::Lambda)
                );
            let code =
                frame.code || (function_body && identifiers.get() - frame.identifiers_before >= 2);
            parent.children += 1;
            parent.code |= code;
        }
    };

    loop {
        let node = cursor.node();
        let kind = node.kind_id();
        let role = table.role(kind);
        let mut descended = false;
        if out.has_errors && kind == ERROR_KIND {
            count_error(out, &node);
        }
        match role {
            KindRole::Comment | KindRole::Import => {}
            // MISSING nodes (inserted by error recovery) and other empty nodes.
            _ if node.start_byte() == node.end_byte() => {
                if out.has_errors && node.is_missing() {
                    count_error(out, &node);
                }
            }
            KindRole::Identifier | KindRole::Literal => {
                identifiers.set(identifiers.get() + (role == KindRole::Identifier) as u32);
                push_leaf(out, stack, &node, role)
            }
            KindRole::Fragment(_) | KindRole::Plain | KindRole::EnumBody => {
                if let (KindRole::EnumBody, Some(owner)) = (role, stack.last_mut()) {
                    owner.enum_body |= owner.category.is_some();
                }
                if cursor.goto_first_child() {
                    let mut frame = frame(stack, &node, role, out.tokens.len() as u32);
                    frame.identifiers_before = identifiers.get();
                    if node.is_named() {
                        frame.statement_of = stack.last().map_or(0, |p| p.body);
                    }
                    if table.is_body(kind) {
                        bodies += 1;
                        frame.body = bodies;
                    }
                    stack.push(frame);
                    descended = true;
                } else {
                    push_leaf(out, stack, &node, role);
                }
            }
        }
        if descended {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            // Only entered nodes are descended into, so every parent has a frame.
            finish(stack, out);
        }
    }
}

/// Counts an ERROR or MISSING node.
fn count_error(out: &mut SyntaxTree, node: &tree_sitter::Node) {
    out.error_nodes += 1;
    if out.first_error_line == 0 {
        out.first_error_line = node.start_position().row as u32 + 1;
    }
}

/// The frame of an internal node about to be descended into.
fn frame(stack: &[Frame], node: &tree_sitter::Node, role: KindRole, first_token: u32) -> Frame {
    let parent = stack.last();
    let parent_enclosing = parent.and_then(|f| f.enclosing);
    let category = match role {
        // The body of a function, loop or branch adds nothing to its owner.
        KindRole::Fragment(Category::Block) if parent.is_some_and(|f| f.category.is_some()) => None,
        KindRole::Fragment(Category::Function) if parent_enclosing == Some(Category::Class) => {
            Some(Category::Method)
        }
        KindRole::Fragment(c) => Some(c),
        _ => None,
    };
    let enclosing = match category {
        Some(Category::Block) | None => parent_enclosing,
        Some(c) => Some(c),
    };
    // Lines matter for fragments only; reading positions costs on every node.
    let (start_line, end_line) = if category.is_some() {
        (
            node.start_position().row as u32 + 1,
            node.end_position().row as u32 + 1,
        )
    } else {
        (0, 0)
    };
    Frame {
        kind: node.kind_id(),
        category,
        depth: parent
            .map_or(0, |f| f.depth)
            .saturating_add(category.is_some() as u16),
        enum_body: false,
        code: matches!(
            role,
            KindRole::Fragment(
                Category::Lambda
                    | Category::Loop
                    | Category::Conditional
                    | Category::Switch
                    | Category::Try
            )
        ),
        identifiers_before: 0,
        body: 0,
        statement_of: 0,
        enclosing,
        first_token,
        start_line,
        end_line,
        children: 0,
    }
}

fn push_leaf(out: &mut SyntaxTree, stack: &mut [Frame], node: &tree_sitter::Node, role: KindRole) {
    let start_line = node.start_position().row as u32 + 1;
    let end_line = node.end_position().row as u32 + 1;
    let class = match role {
        KindRole::Identifier => TokenClass::Identifier,
        KindRole::Literal => TokenClass::Literal,
        _ => TokenClass::Verbatim,
    };
    let index = out.tokens.len() as u32;
    out.tokens.push(Token {
        kind: node.kind_id(),
        class,
        line: start_line,
        start: node.start_byte() as u32,
        end: node.end_byte() as u32,
    });
    out.nodes.push(Node {
        kind: node.kind_id(),
        category: None,
        first_token: index,
        end_token: index + 1,
        start_line,
        end_line,
        children: 0,
        depth: stack.last().map_or(0, |f| f.depth),
        declarative: false,
        statement_of: 0,
    });
    if let Some(parent) = stack.last_mut() {
        parent.children += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(language: Language, src: &str) -> SyntaxTree {
        SyntaxParser::default()
            .parse(language, src.as_bytes())
            .unwrap()
            .clone()
    }

    fn categories(tree: &SyntaxTree) -> Vec<Category> {
        tree.nodes.iter().filter_map(|n| n.category).collect()
    }

    #[test]
    fn comments_and_imports_are_not_tokens() {
        let src = "// license header\nuse std::fmt;\nfn f() -> u32 { /* c */ 1 }\n";
        let tree = parse(Language::Rust, src);
        let texts: Vec<_> = (0..tree.tokens.len())
            .map(|i| String::from_utf8_lossy(tree.token_text(src.as_bytes(), i)).into_owned())
            .collect();
        assert_eq!(texts, ["fn", "f", "(", ")", "->", "u32", "{", "1", "}"]);
    }

    #[test]
    fn literals_are_one_token_and_identifiers_are_classified() {
        let src = "x = f(\"a b c\", 42)\n";
        let tree = parse(Language::Python, src);
        let classes: Vec<_> = tree.tokens.iter().map(|t| t.class).collect();
        use TokenClass::*;
        assert_eq!(
            classes,
            [
                Identifier, Verbatim, Identifier, Verbatim, Literal, Verbatim, Literal, Verbatim
            ]
        );
    }

    #[test]
    fn functions_inside_classes_are_methods() {
        let src = "class A:\n    def m(self):\n        pass\n\ndef f():\n    pass\n";
        let tree = parse(Language::Python, src);
        assert_eq!(
            categories(&tree),
            [Category::Method, Category::Class, Category::Function]
        );
        let rust = parse(Language::Rust, "impl A { fn m(&self) {} }\nfn f() {}\n");
        assert!(categories(&rust).contains(&Category::Method));
        assert!(categories(&rust).contains(&Category::Function));
    }

    #[test]
    fn post_order_children_and_token_ranges_are_consistent() {
        let src = "int f(int a) { if (a) { return a + 1; } return 0; }\n";
        let tree = parse(Language::C, src);
        // Replaying post-order with a stack must consume exactly one root.
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for node in &tree.nodes {
            let children = stack.split_off(stack.len() - node.children as usize);
            if let (Some(first), Some(last)) = (children.first(), children.last()) {
                assert_eq!(first.0, node.first_token);
                assert_eq!(last.1, node.end_token);
            }
            stack.push((node.first_token, node.end_token));
        }
        assert_eq!(stack, [(0, tree.tokens.len() as u32)]);
    }

    #[test]
    fn syntax_errors_are_tolerated() {
        let tree = parse(Language::Java, "class A { void f( { int x = ; } ");
        assert!(tree.has_errors);
        assert!(!tree.tokens.is_empty());
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 10_000;
        let src = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
        let tree = parse(Language::Python, &src);
        assert_eq!(tree.tokens.len(), 2 * depth + 3);
    }

    #[test]
    fn every_language_parses_a_function() {
        let samples: &[(Language, &str)] = &[
            (Language::Rust, "fn f(a: u32) -> u32 { a }"),
            (Language::Python, "def f(a):\n    return a\n"),
            (Language::JavaScript, "function f(a) { return a; }"),
            (
                Language::TypeScript,
                "function f(a: number): number { return a; }",
            ),
            (
                Language::Tsx,
                "function f(a: number) { return <div>{a}</div>; }",
            ),
            (Language::Java, "class A { int f(int a) { return a; } }"),
            (Language::Go, "package p\nfunc f(a int) int { return a }\n"),
            (Language::C, "int f(int a) { return a; }"),
            (Language::Cpp, "int f(int a) { return a; }"),
            (Language::CSharp, "class A { int F(int a) { return a; } }"),
            (Language::Ruby, "def f(a)\n  a\nend\n"),
            (Language::Php, "<?php function f($a) { return $a; }"),
            (Language::Kotlin, "fun f(a: Int): Int { return a }"),
            (Language::Swift, "func f(a: Int) -> Int { return a }"),
            (Language::Scala, "object A { def f(a: Int): Int = { a } }"),
        ];
        for (language, src) in samples {
            let tree = parse(*language, src);
            let cats = categories(&tree);
            assert!(
                cats.contains(&Category::Function) || cats.contains(&Category::Method),
                "{}: no function in {cats:?}",
                language.name()
            );
            assert!(
                !tree.has_errors,
                "{}: syntax error in sample",
                language.name()
            );
        }
    }
}
