//! The language registry: every grammar is declared once, with the node kinds that map to
//! universal categories and the leaves that are identifiers, literals and comments.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::Category;

/// A language codetable parses. The order is the order of [`Language::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Java,
    Go,
    C,
    Cpp,
    CSharp,
    Ruby,
    Php,
    Kotlin,
    Swift,
    Scala,
}

/// How one grammar is read. Every field exists because fragments or normalisation need it.
pub struct LanguageSpec {
    /// The name users type (`--lang`) and the JSON output carries.
    pub name: &'static str,
    /// File extensions, lower case, without the dot.
    pub extensions: &'static [&'static str],
    /// The tree-sitter grammar.
    grammar: tree_sitter_language::LanguageFn,
    /// Node kinds that are candidate fragments, with their universal category.
    /// Functions nested directly in a class become [`Category::Method`].
    pub fragments: &'static [(&'static str, Category)],
    /// Named leaves abstracted to "identifier" in Type-2 normalisation.
    pub identifiers: &'static [&'static str],
    /// Nodes abstracted to "literal" (taken whole, never descended into).
    pub literals: &'static [&'static str],
    /// Comment nodes: dropped from the token stream (so license headers never count).
    pub comments: &'static [&'static str],
    /// Import / include / package nodes: never fragments and never inside one. Nodes that
    /// own a body (C++, PHP and C# namespaces, Scala package blocks) are never imports.
    pub imports: &'static [&'static str],
    /// Enumerator lists: the fragment that owns one is declarative (see
    /// [`Node::declarative`](crate::Node::declarative)), compared by its names and values.
    pub enum_bodies: &'static [&'static str],
    /// The bodies of functions and methods: a class whose functions have no body with code
    /// in it (abstract signatures, stubs) is declarative.
    pub bodies: &'static [&'static str],
}

impl std::fmt::Debug for LanguageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageSpec")
            .field("name", &self.name)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

use Category::*;

const C_FRAGMENTS: &[(&str, Category)] = &[
    ("function_definition", Function),
    ("struct_specifier", Class),
    ("union_specifier", Class),
    ("enum_specifier", Class),
    ("for_statement", Loop),
    ("while_statement", Loop),
    ("do_statement", Loop),
    ("if_statement", Conditional),
    ("switch_statement", Switch),
    ("compound_statement", Block),
];

const JS_FRAGMENTS: &[(&str, Category)] = &[
    ("function_declaration", Function),
    ("function_expression", Function),
    ("generator_function_declaration", Function),
    ("method_definition", Method),
    ("arrow_function", Lambda),
    ("class_declaration", Class),
    ("class", Class),
    ("for_statement", Loop),
    ("for_in_statement", Loop),
    ("while_statement", Loop),
    ("do_statement", Loop),
    ("if_statement", Conditional),
    ("switch_statement", Switch),
    ("try_statement", Try),
    ("statement_block", Block),
];

const TS_FRAGMENTS: &[(&str, Category)] = &[
    ("function_declaration", Function),
    ("function_expression", Function),
    ("generator_function_declaration", Function),
    ("method_definition", Method),
    ("arrow_function", Lambda),
    ("class_declaration", Class),
    ("abstract_class_declaration", Class),
    ("class", Class),
    ("interface_declaration", Class),
    ("enum_declaration", Class),
    ("for_statement", Loop),
    ("for_in_statement", Loop),
    ("while_statement", Loop),
    ("do_statement", Loop),
    ("if_statement", Conditional),
    ("switch_statement", Switch),
    ("try_statement", Try),
    ("statement_block", Block),
];

const JS_IDENTIFIERS: &[&str] = &[
    "identifier",
    "property_identifier",
    "shorthand_property_identifier",
    "shorthand_property_identifier_pattern",
    "private_property_identifier",
];

const TS_IDENTIFIERS: &[&str] = &[
    "identifier",
    "property_identifier",
    "shorthand_property_identifier",
    "shorthand_property_identifier_pattern",
    "private_property_identifier",
    "type_identifier",
];

const JS_LITERALS: &[&str] = &[
    "string",
    "template_string",
    "number",
    "regex",
    "true",
    "false",
    "null",
    "undefined",
];

static LANGUAGES: [LanguageSpec; 15] = [
    LanguageSpec {
        name: "rust",
        extensions: &["rs"],
        grammar: tree_sitter_rust::LANGUAGE,
        fragments: &[
            ("function_item", Function),
            ("impl_item", Class),
            ("trait_item", Class),
            ("struct_item", Class),
            ("enum_item", Class),
            ("mod_item", Module),
            ("closure_expression", Lambda),
            ("for_expression", Loop),
            ("while_expression", Loop),
            ("loop_expression", Loop),
            ("if_expression", Conditional),
            ("match_expression", Switch),
            ("block", Block),
        ],
        identifiers: &[
            "identifier",
            "field_identifier",
            "type_identifier",
            "shorthand_field_identifier",
        ],
        literals: &[
            "string_literal",
            "raw_string_literal",
            "char_literal",
            "integer_literal",
            "float_literal",
            "boolean_literal",
        ],
        comments: &["line_comment", "block_comment"],
        imports: &["use_declaration", "extern_crate_declaration"],
        enum_bodies: &["enum_variant_list"],
        bodies: &["block"],
    },
    LanguageSpec {
        name: "python",
        extensions: &["py", "pyi", "pyw"],
        grammar: tree_sitter_python::LANGUAGE,
        fragments: &[
            ("function_definition", Function),
            ("class_definition", Class),
            ("lambda", Lambda),
            ("for_statement", Loop),
            ("while_statement", Loop),
            ("if_statement", Conditional),
            ("match_statement", Switch),
            ("try_statement", Try),
            ("with_statement", Block),
        ],
        identifiers: &["identifier"],
        literals: &[
            "string",
            "concatenated_string",
            "integer",
            "float",
            "true",
            "false",
            "none",
        ],
        comments: &["comment"],
        imports: &[
            "import_statement",
            "import_from_statement",
            "future_import_statement",
        ],
        enum_bodies: &[],
        bodies: &["block"],
    },
    LanguageSpec {
        name: "javascript",
        extensions: &["js", "mjs", "cjs", "jsx"],
        grammar: tree_sitter_javascript::LANGUAGE,
        fragments: JS_FRAGMENTS,
        identifiers: JS_IDENTIFIERS,
        literals: JS_LITERALS,
        comments: &["comment"],
        imports: &["import_statement"],
        enum_bodies: &[],
        bodies: &["statement_block"],
    },
    LanguageSpec {
        name: "typescript",
        extensions: &["ts", "mts", "cts"],
        grammar: tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
        fragments: TS_FRAGMENTS,
        identifiers: TS_IDENTIFIERS,
        literals: JS_LITERALS,
        comments: &["comment"],
        imports: &["import_statement"],
        enum_bodies: &["enum_body"],
        bodies: &["statement_block"],
    },
    LanguageSpec {
        name: "tsx",
        extensions: &["tsx"],
        grammar: tree_sitter_typescript::LANGUAGE_TSX,
        fragments: TS_FRAGMENTS,
        identifiers: TS_IDENTIFIERS,
        literals: JS_LITERALS,
        comments: &["comment"],
        imports: &["import_statement"],
        enum_bodies: &["enum_body"],
        bodies: &["statement_block"],
    },
    LanguageSpec {
        name: "java",
        extensions: &["java"],
        grammar: tree_sitter_java::LANGUAGE,
        fragments: &[
            ("method_declaration", Method),
            ("constructor_declaration", Method),
            ("class_declaration", Class),
            ("interface_declaration", Class),
            ("enum_declaration", Class),
            ("record_declaration", Class),
            ("lambda_expression", Lambda),
            ("for_statement", Loop),
            ("enhanced_for_statement", Loop),
            ("while_statement", Loop),
            ("do_statement", Loop),
            ("if_statement", Conditional),
            ("switch_expression", Switch),
            ("try_statement", Try),
            ("try_with_resources_statement", Try),
            ("block", Block),
        ],
        identifiers: &["identifier", "type_identifier"],
        literals: &[
            "decimal_integer_literal",
            "hex_integer_literal",
            "octal_integer_literal",
            "binary_integer_literal",
            "decimal_floating_point_literal",
            "hex_floating_point_literal",
            "string_literal",
            "character_literal",
            "true",
            "false",
            "null_literal",
        ],
        comments: &["line_comment", "block_comment"],
        imports: &["import_declaration", "package_declaration"],
        enum_bodies: &["enum_body"],
        bodies: &["block", "constructor_body"],
    },
    LanguageSpec {
        name: "go",
        extensions: &["go"],
        grammar: tree_sitter_go::LANGUAGE,
        fragments: &[
            ("function_declaration", Function),
            ("method_declaration", Method),
            ("func_literal", Lambda),
            ("type_declaration", Class),
            ("for_statement", Loop),
            ("if_statement", Conditional),
            ("expression_switch_statement", Switch),
            ("type_switch_statement", Switch),
            ("select_statement", Switch),
            ("block", Block),
        ],
        identifiers: &[
            "identifier",
            "field_identifier",
            "type_identifier",
            "package_identifier",
        ],
        literals: &[
            "interpreted_string_literal",
            "raw_string_literal",
            "int_literal",
            "float_literal",
            "imaginary_literal",
            "rune_literal",
            "true",
            "false",
            "nil",
        ],
        comments: &["comment"],
        imports: &["import_declaration", "package_clause"],
        enum_bodies: &[],
        bodies: &["block"],
    },
    LanguageSpec {
        name: "c",
        extensions: &["c"],
        grammar: tree_sitter_c::LANGUAGE,
        fragments: C_FRAGMENTS,
        identifiers: &[
            "identifier",
            "field_identifier",
            "type_identifier",
            "statement_identifier",
        ],
        literals: &[
            "number_literal",
            "string_literal",
            "concatenated_string",
            "char_literal",
            "system_lib_string",
            "true",
            "false",
            "null",
        ],
        comments: &["comment"],
        imports: &["preproc_include"],
        enum_bodies: &["enumerator_list"],
        bodies: &["compound_statement"],
    },
    LanguageSpec {
        name: "cpp",
        extensions: &["cc", "cpp", "cxx", "c++", "hpp", "hh", "hxx", "h++", "ipp"],
        grammar: tree_sitter_cpp::LANGUAGE,
        fragments: &[
            ("function_definition", Function),
            ("class_specifier", Class),
            ("struct_specifier", Class),
            ("union_specifier", Class),
            ("enum_specifier", Class),
            ("namespace_definition", Module),
            ("lambda_expression", Lambda),
            ("for_statement", Loop),
            ("for_range_loop", Loop),
            ("while_statement", Loop),
            ("do_statement", Loop),
            ("if_statement", Conditional),
            ("switch_statement", Switch),
            ("try_statement", Try),
            ("compound_statement", Block),
        ],
        identifiers: &[
            "identifier",
            "field_identifier",
            "type_identifier",
            "namespace_identifier",
            "statement_identifier",
        ],
        literals: &[
            "number_literal",
            "string_literal",
            "raw_string_literal",
            "concatenated_string",
            "char_literal",
            "user_defined_literal",
            "system_lib_string",
            "true",
            "false",
            "null",
        ],
        comments: &["comment"],
        imports: &["preproc_include", "using_declaration"],
        enum_bodies: &["enumerator_list"],
        bodies: &["compound_statement"],
    },
    LanguageSpec {
        name: "csharp",
        extensions: &["cs"],
        grammar: tree_sitter_c_sharp::LANGUAGE,
        fragments: &[
            ("method_declaration", Method),
            ("constructor_declaration", Method),
            ("local_function_statement", Function),
            ("class_declaration", Class),
            ("struct_declaration", Class),
            ("interface_declaration", Class),
            ("record_declaration", Class),
            ("enum_declaration", Class),
            ("namespace_declaration", Module),
            ("lambda_expression", Lambda),
            ("for_statement", Loop),
            ("foreach_statement", Loop),
            ("while_statement", Loop),
            ("do_statement", Loop),
            ("if_statement", Conditional),
            ("switch_statement", Switch),
            ("switch_expression", Switch),
            ("try_statement", Try),
            ("block", Block),
        ],
        identifiers: &["identifier"],
        literals: &[
            "integer_literal",
            "real_literal",
            "string_literal",
            "verbatim_string_literal",
            "raw_string_literal",
            "interpolated_string_expression",
            "character_literal",
            "boolean_literal",
            "null_literal",
        ],
        comments: &["comment"],
        imports: &["using_directive"],
        enum_bodies: &["enum_member_declaration_list"],
        bodies: &["block", "arrow_expression_clause"],
    },
    LanguageSpec {
        name: "ruby",
        extensions: &["rb", "rake", "gemspec"],
        grammar: tree_sitter_ruby::LANGUAGE,
        fragments: &[
            ("method", Function),
            ("singleton_method", Method),
            ("class", Class),
            ("module", Module),
            ("singleton_class", Class),
            ("lambda", Lambda),
            ("do_block", Lambda),
            ("for", Loop),
            ("while", Loop),
            ("until", Loop),
            ("if", Conditional),
            ("unless", Conditional),
            ("case", Switch),
            ("case_match", Switch),
            ("begin", Try),
        ],
        identifiers: &[
            "identifier",
            "constant",
            "instance_variable",
            "class_variable",
            "global_variable",
        ],
        literals: &[
            "string",
            "integer",
            "float",
            "simple_symbol",
            "delimited_symbol",
            "regex",
            "true",
            "false",
            "nil",
        ],
        comments: &["comment"],
        imports: &[],
        enum_bodies: &[],
        bodies: &["body_statement"],
    },
    LanguageSpec {
        name: "php",
        extensions: &["php"],
        grammar: tree_sitter_php::LANGUAGE_PHP,
        fragments: &[
            ("function_definition", Function),
            ("method_declaration", Method),
            ("class_declaration", Class),
            ("interface_declaration", Class),
            ("trait_declaration", Class),
            ("enum_declaration", Class),
            ("namespace_definition", Module),
            ("anonymous_function", Lambda),
            ("arrow_function", Lambda),
            ("for_statement", Loop),
            ("foreach_statement", Loop),
            ("while_statement", Loop),
            ("do_statement", Loop),
            ("if_statement", Conditional),
            ("switch_statement", Switch),
            ("match_expression", Switch),
            ("try_statement", Try),
            ("compound_statement", Block),
        ],
        identifiers: &["name"],
        literals: &[
            "string",
            "encapsed_string",
            "heredoc",
            "nowdoc",
            "integer",
            "float",
            "boolean",
            "null",
        ],
        comments: &["comment"],
        imports: &["namespace_use_declaration"],
        enum_bodies: &["enum_declaration_list"],
        bodies: &["compound_statement"],
    },
    LanguageSpec {
        name: "kotlin",
        extensions: &["kt", "kts"],
        grammar: tree_sitter_kotlin_ng::LANGUAGE,
        fragments: &[
            ("function_declaration", Function),
            ("class_declaration", Class),
            ("object_declaration", Class),
            ("lambda_literal", Lambda),
            ("anonymous_function", Lambda),
            ("for_statement", Loop),
            ("while_statement", Loop),
            ("do_while_statement", Loop),
            ("if_expression", Conditional),
            ("when_expression", Switch),
            ("try_expression", Try),
        ],
        identifiers: &["identifier"],
        literals: &[
            "string_literal",
            "multiline_string_literal",
            "character_literal",
            "number_literal",
            "float_literal",
        ],
        comments: &["line_comment", "block_comment"],
        imports: &["import", "package_header"],
        enum_bodies: &["enum_class_body"],
        bodies: &["function_body"],
    },
    LanguageSpec {
        name: "swift",
        extensions: &["swift"],
        grammar: tree_sitter_swift::LANGUAGE,
        fragments: &[
            ("function_declaration", Function),
            ("init_declaration", Method),
            ("class_declaration", Class),
            ("protocol_declaration", Class),
            ("lambda_literal", Lambda),
            ("for_statement", Loop),
            ("while_statement", Loop),
            ("repeat_while_statement", Loop),
            ("if_statement", Conditional),
            ("guard_statement", Conditional),
            ("switch_statement", Switch),
            ("do_statement", Try),
        ],
        identifiers: &["simple_identifier", "type_identifier"],
        literals: &[
            "line_string_literal",
            "multi_line_string_literal",
            "integer_literal",
            "real_literal",
            "hex_literal",
            "boolean_literal",
        ],
        comments: &["comment", "multiline_comment"],
        imports: &["import_declaration"],
        enum_bodies: &["enum_class_body"],
        bodies: &["function_body"],
    },
    LanguageSpec {
        name: "scala",
        extensions: &["scala", "sc"],
        grammar: tree_sitter_scala::LANGUAGE,
        fragments: &[
            ("function_definition", Function),
            ("class_definition", Class),
            ("object_definition", Class),
            ("trait_definition", Class),
            ("enum_definition", Class),
            ("package_clause", Module),
            ("lambda_expression", Lambda),
            ("for_expression", Loop),
            ("while_expression", Loop),
            ("do_while_expression", Loop),
            ("if_expression", Conditional),
            ("match_expression", Switch),
            ("try_expression", Try),
            ("block", Block),
        ],
        identifiers: &["identifier", "type_identifier"],
        literals: &[
            "integer_literal",
            "floating_point_literal",
            "string",
            "interpolated_string_expression",
            "character_literal",
            "boolean_literal",
            "null_literal",
        ],
        comments: &["comment", "block_comment"],
        imports: &["import_declaration"],
        enum_bodies: &["enum_body"],
        bodies: &["block", "indented_block"],
    },
];

impl Language {
    /// Every language, in registry order.
    pub const ALL: [Language; 15] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Java,
        Language::Go,
        Language::C,
        Language::Cpp,
        Language::CSharp,
        Language::Ruby,
        Language::Php,
        Language::Kotlin,
        Language::Swift,
        Language::Scala,
    ];

    /// The registry entry of this language.
    pub fn spec(self) -> &'static LanguageSpec {
        &LANGUAGES[self as usize]
    }

    /// The name users type and reports carry (`rust`, `cpp`, `csharp`, ...).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks a language up by its name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name))
    }

    /// Detects a language from a file extension (without the dot, any case).
    pub fn from_extension(ext: &str) -> Option<Language> {
        let ext = ext.to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| l.spec().extensions.contains(&ext.as_str()))
    }

    /// Languages whose code is copied between each other (C into C++, JavaScript into
    /// TypeScript) share a family; clones are only looked for within one family.
    pub fn family(self) -> Language {
        match self {
            Language::Cpp => Language::C,
            Language::TypeScript | Language::Tsx => Language::JavaScript,
            other => other,
        }
    }

    /// The tree-sitter grammar.
    pub fn grammar(self) -> tree_sitter::Language {
        self.spec().grammar.into()
    }

    /// Per-kind lookup tables, built once per language.
    pub(crate) fn kinds(self) -> &'static KindTable {
        static TABLES: [OnceLock<KindTable>; 15] = [const { OnceLock::new() }; 15];
        TABLES[self as usize].get_or_init(|| KindTable::new(self))
    }
}

/// What a node kind means to codetable, indexed by tree-sitter kind id.
#[derive(Debug)]
pub(crate) struct KindTable {
    pub(crate) roles: Vec<KindRole>,
    /// Whether each kind is a function body ([`LanguageSpec::bodies`]).
    pub(crate) bodies: Vec<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KindRole {
    Plain,
    Fragment(Category),
    Identifier,
    Literal,
    Comment,
    Import,
    /// A plain node that makes its parent fragment declarative.
    EnumBody,
}

impl KindTable {
    fn new(language: Language) -> KindTable {
        let grammar = language.grammar();
        let spec = language.spec();
        let count = grammar.node_kind_count();
        let mut roles = vec![KindRole::Plain; count];
        let mut bodies = vec![false; count];
        // A kind name may map to several ids (aliases); give each the role.
        for id in 0..count as u16 {
            let Some(name) = grammar.node_kind_for_id(id) else {
                continue;
            };
            if !grammar.node_kind_is_named(id) {
                continue;
            }
            let role = if let Some((_, c)) = spec.fragments.iter().find(|(k, _)| *k == name) {
                KindRole::Fragment(*c)
            } else if spec.identifiers.contains(&name) {
                KindRole::Identifier
            } else if spec.literals.contains(&name) {
                KindRole::Literal
            } else if spec.comments.contains(&name) {
                KindRole::Comment
            } else if spec.imports.contains(&name) {
                KindRole::Import
            } else if spec.enum_bodies.contains(&name) {
                KindRole::EnumBody
            } else {
                KindRole::Plain
            };
            roles[id as usize] = role;
            bodies[id as usize] = spec.bodies.contains(&name);
        }
        KindTable { roles, bodies }
    }

    pub(crate) fn is_body(&self, kind: u16) -> bool {
        self.bodies.get(kind as usize).copied().unwrap_or(false)
    }

    pub(crate) fn role(&self, kind: u16) -> KindRole {
        self.roles
            .get(kind as usize)
            .copied()
            .unwrap_or(KindRole::Plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind named in the registry exists in its grammar: a typo would silently
    /// drop a category or a normalisation.
    #[test]
    fn every_registered_kind_exists_in_its_grammar() {
        let mut missing = Vec::new();
        for language in Language::ALL {
            let grammar = language.grammar();
            let spec = language.spec();
            let names = spec
                .fragments
                .iter()
                .map(|(k, _)| *k)
                .chain(spec.identifiers.iter().copied())
                .chain(spec.literals.iter().copied())
                .chain(spec.comments.iter().copied())
                .chain(spec.imports.iter().copied())
                .chain(spec.enum_bodies.iter().copied())
                .chain(spec.bodies.iter().copied());
            for name in names {
                if grammar.id_for_node_kind(name, true) == 0 {
                    missing.push(format!("{}: {name}", spec.name));
                }
            }
        }
        assert!(missing.is_empty(), "unknown node kinds: {missing:#?}");
    }

    #[test]
    fn extensions_are_unique_and_detected() {
        let mut seen = std::collections::HashSet::new();
        for language in Language::ALL {
            for ext in language.spec().extensions {
                assert!(seen.insert(*ext), "extension {ext} declared twice");
                assert_eq!(Language::from_extension(ext), Some(language));
            }
            assert_eq!(Language::from_name(language.name()), Some(language));
        }
        assert_eq!(Language::from_extension("RS"), Some(Language::Rust));
        assert_eq!(Language::from_extension("txt"), None);
    }
}
