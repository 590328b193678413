//! Language registry and tree-sitter parsing for codetable.
//!
//! A source file becomes a [`SyntaxTree`]: a flat token stream without comments and imports,
//! and every node in post-order with its universal [`Category`]. Nothing here hashes or
//! stores; `codetable-fingerprint` turns this into fingerprints.
//!
//! ```
//! use codetable_syntax::{Language, SyntaxParser, Category};
//!
//! let mut parser = SyntaxParser::default();
//! let tree = parser.parse(Language::Python, b"def f(x):\n    return x + 1\n").unwrap();
//! assert!(tree.nodes.iter().any(|n| n.category == Some(Category::Function)));
//! assert_eq!(tree.token_text(b"def f(x):\n    return x + 1\n", 0), b"def");
//! ```

mod detect;
mod language;
mod tree;

pub use detect::{Detection, looks_like_cpp};
pub use language::{Language, LanguageSpec};
pub use tree::{Node, ParseError, SyntaxParser, SyntaxTree, Token, TokenClass};

use serde::{Deserialize, Serialize};

/// The universal categories that language-specific node kinds map to: the groups of the
/// periodic table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A module, namespace or file-level container.
    Module,
    /// A class, struct, interface, trait, impl block or similar type body.
    Class,
    /// A free function.
    Function,
    /// A function declared inside a class-like body.
    Method,
    /// A closure, lambda or anonymous function.
    Lambda,
    /// `for`, `while`, `loop`, `do`.
    Loop,
    /// `if`, `unless`, `guard`.
    Conditional,
    /// `switch`, `match`, `when`, `case`, `select`.
    Switch,
    /// `try`, `begin/rescue`, `do/catch`.
    Try,
    /// A plain block of statements.
    Block,
}

impl Category {
    /// Every category, in declaration order (`ALL[c as usize] == c`).
    pub const ALL: [Category; 10] = [
        Category::Module,
        Category::Class,
        Category::Function,
        Category::Method,
        Category::Lambda,
        Category::Loop,
        Category::Conditional,
        Category::Switch,
        Category::Try,
        Category::Block,
    ];

    /// The lower-case name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Category::Module => "module",
            Category::Class => "class",
            Category::Function => "function",
            Category::Method => "method",
            Category::Lambda => "lambda",
            Category::Loop => "loop",
            Category::Conditional => "conditional",
            Category::Switch => "switch",
            Category::Try => "try",
            Category::Block => "block",
        }
    }
}
