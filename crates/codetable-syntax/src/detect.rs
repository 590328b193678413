//! Which language a file is in: by its name, and for `.h` headers (shared by C and C++) by
//! its content.
//!
//! The rule for a `.h` file: it is C++ when, outside comments, string and character
//! literals, and outside `#if`/`#ifdef __cplusplus` sections (which C headers use to offer
//! C++ wrappers), it holds any construct that C does not have:
//! - `template <`, `namespace NAME {` or `namespace {`, `using namespace`;
//! - `class NAME` followed by `{`, `:` or `final` (not `struct class`, a C tag named class);
//! - an access specifier `public:`, `private:` or `protected:`;
//! - `virtual` followed by a name, or `std::`;
//! - `#include <name>` of a standard header without an extension (`<vector>`).
//!
//! Otherwise it is C. `.C` and `.H` (upper case) are C++ by convention, as GCC reads them.

use std::ffi::OsStr;

use crate::Language;

/// What a file's name says about its language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// The name decides.
    Known(Language),
    /// A `.h` header: C or C++, decided by [`Detection::resolve`] on its content.
    Header,
}

impl Detection {
    /// The language of a file named `name` (its last path component), if any.
    pub fn from_file_name(name: &OsStr) -> Option<Detection> {
        let name = name.as_encoded_bytes();
        let dot = name.iter().rposition(|&b| b == b'.')?;
        let ext = std::str::from_utf8(&name[dot + 1..]).ok()?;
        match ext {
            "C" | "H" => Some(Detection::Known(Language::Cpp)),
            _ if ext.eq_ignore_ascii_case("h") => Some(Detection::Header),
            _ => Language::from_extension(ext).map(Detection::Known),
        }
    }

    /// Whether the file can turn out to be in `language`.
    pub fn may_be(self, language: Language) -> bool {
        match self {
            Detection::Known(l) => l == language,
            Detection::Header => matches!(language, Language::C | Language::Cpp),
        }
    }

    /// The language, given the file's content.
    pub fn resolve(self, source: &[u8]) -> Language {
        match self {
            Detection::Known(l) => l,
            Detection::Header if looks_like_cpp(source) => Language::Cpp,
            Detection::Header => Language::C,
        }
    }
}

/// Whether a header holds a construct only C++ has (the rule in the module docs).
pub fn looks_like_cpp(source: &[u8]) -> bool {
    let mut lexer = Lexer {
        src: source,
        at: 0,
        line_start: true,
        sections: Vec::new(),
    };
    // The last four tokens, newest last.
    let mut window: [Tok; 4] = [Tok::Other; 4];
    while let Some(token) = lexer.next() {
        if let Tok::CppInclude = token {
            return true;
        }
        window = [window[1], window[2], window[3], token];
        if cpp_signal(&window) {
            return true;
        }
    }
    false
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a [u8]),
    Punct(u8),
    /// `::`
    Scope,
    /// `#include <name>` without a dot: a C++ standard header.
    CppInclude,
    Other,
}

fn cpp_signal(w: &[Tok; 4]) -> bool {
    use Tok::*;
    let class = matches!(
        (w[0], w[1], w[2], w[3]),
        (prev, Word(b"class"), Word(name), Punct(b'{' | b':') | Word(b"final"))
            if !matches!(prev, Word(b"struct" | b"union" | b"enum")) && name != b"final"
    );
    class
        || matches!(
            (w[1], w[2], w[3]),
            (_, Word(b"template"), Punct(b'<'))
                | (_, Word(b"namespace"), Punct(b'{'))
                | (Word(b"namespace"), Word(_), Punct(b'{'))
                | (_, Word(b"using"), Word(b"namespace"))
                | (_, Word(b"public" | b"private" | b"protected"), Punct(b':'))
                | (_, Word(b"virtual"), Word(_))
                | (_, Word(b"std"), Scope)
        )
}

/// A tokenizer that skips comments, literals and `__cplusplus` sections.
struct Lexer<'a> {
    src: &'a [u8],
    at: usize,
    line_start: bool,
    /// One entry per open `#if`: whether its current branch is C++-only.
    sections: Vec<Section>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// `#ifdef __cplusplus`: C++ only until `#else`.
    CppOnly,
    /// `#ifndef __cplusplus`: C++ only after `#else`.
    CppElse,
    /// Any other condition.
    Neutral,
}

impl<'a> Lexer<'a> {
    fn skipping(&self) -> bool {
        self.sections.contains(&Section::CppOnly)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        loop {
            let &c = self.src.get(self.at)?;
            match c {
                b'\n' => {
                    self.at += 1;
                    self.line_start = true;
                    continue;
                }
                b' ' | b'\t' | b'\r' | b'\x0c' | b'\x0b' => {
                    self.at += 1;
                    continue;
                }
                b'#' if self.line_start => {
                    if let Some(token) = self.directive() {
                        return Some(token);
                    }
                    continue;
                }
                b'/' if self.src.get(self.at + 1) == Some(&b'/') => {
                    self.skip_line();
                    continue;
                }
                b'/' if self.src.get(self.at + 1) == Some(&b'*') => {
                    self.skip_block_comment();
                    continue;
                }
                _ => {}
            }
            self.line_start = false;
            let token = match c {
                b'"' | b'\'' => {
                    self.skip_literal(c);
                    Tok::Other
                }
                b':' if self.src.get(self.at + 1) == Some(&b':') => {
                    self.at += 2;
                    Tok::Scope
                }
                c if c == b'_' || c.is_ascii_alphabetic() => {
                    let start = self.at;
                    while self
                        .src
                        .get(self.at)
                        .is_some_and(|&b| b == b'_' || b.is_ascii_alphanumeric())
                    {
                        self.at += 1;
                    }
                    Tok::Word(&self.src[start..self.at])
                }
                c if c.is_ascii_punctuation() => {
                    self.at += 1;
                    Tok::Punct(c)
                }
                _ => {
                    self.at += 1;
                    Tok::Other
                }
            };
            if !self.skipping() {
                return Some(token);
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(&b) = self.src.get(self.at) {
            if b == b'\n' {
                return;
            }
            self.at += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        self.at += 2;
        while self.at < self.src.len() {
            if self.src[self.at..].starts_with(b"*/") {
                self.at += 2;
                return;
            }
            self.at += 1;
        }
    }

    fn skip_literal(&mut self, quote: u8) {
        self.at += 1;
        while let Some(&b) = self.src.get(self.at) {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'\n' => return, // unterminated: stop at the line's end
                _ if b == quote => return,
                _ => {}
            }
        }
    }

    /// Reads a preprocessor line (with its continuations), updating the `#if` sections.
    fn directive(&mut self) -> Option<Tok<'a>> {
        let start = self.at + 1;
        self.at = start;
        // To the end of the line, past continuations and through comments, which may run
        // on over several lines (`#define A 1 /* ...\n ... */`).
        while let Some(&b) = self.src.get(self.at) {
            match b {
                b'\n' if self.src[..self.at].ends_with(b"\\") => self.at += 1,
                b'\n' => break,
                b'/' if self.src.get(self.at + 1) == Some(&b'*') => self.skip_block_comment(),
                b'/' if self.src.get(self.at + 1) == Some(&b'/') => self.skip_line(),
                _ => self.at += 1,
            }
        }
        let line = &self.src[start..self.at];
        let trimmed = line.trim_ascii_start();
        let word_end = trimmed
            .iter()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let (word, rest) = trimmed.split_at(word_end);
        let mentions_cpp = rest.windows(11).any(|w| w == b"__cplusplus");
        match word {
            b"if" | b"ifdef" if mentions_cpp && !rest.trim_ascii_start().starts_with(b"!") => {
                self.sections.push(Section::CppOnly)
            }
            b"ifndef" if mentions_cpp => self.sections.push(Section::CppElse),
            b"if" if mentions_cpp => self.sections.push(Section::CppElse),
            b"if" | b"ifdef" | b"ifndef" => self.sections.push(Section::Neutral),
            b"else" | b"elif" => {
                if let Some(top) = self.sections.last_mut() {
                    *top = match *top {
                        Section::CppOnly => Section::Neutral,
                        Section::CppElse => Section::CppOnly,
                        Section::Neutral => Section::Neutral,
                    };
                }
            }
            b"endif" => {
                self.sections.pop();
            }
            b"include" if !self.skipping() => {
                let rest = rest.trim_ascii();
                let name = rest.strip_prefix(b"<").and_then(|r| r.strip_suffix(b">"));
                if name.is_some_and(|n| !n.is_empty() && !n.contains(&b'.') && !n.contains(&b'/')) {
                    return Some(Tok::CppInclude);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_cpp(src: &str) -> bool {
        looks_like_cpp(src.as_bytes())
    }

    #[test]
    fn cpp_constructs_make_a_header_cpp() {
        assert!(is_cpp(
            "class Shape {\npublic:\n  virtual double area() const = 0;\n};\n"
        ));
        assert!(is_cpp("template <typename T> T max(T a, T b);\n"));
        assert!(is_cpp("namespace geo {\nint f(int);\n}\n"));
        assert!(is_cpp("#include <vector>\nint f(void);\n"));
        assert!(is_cpp(
            "struct A : B { int x; };\nclass C final : public A {};\n"
        ));
        assert!(is_cpp("std::string name(int id);\n"));
        assert!(is_cpp("class Point;\nclass Point : Base {};\n"));
    }

    #[test]
    fn c_headers_stay_c() {
        // The kernel names things `class`; C headers wrap C++ glue in __cplusplus sections;
        // comments and strings do not count.
        assert!(!is_cpp(
            "struct class {\n  const char *name;\n};\nstruct class *class_create(void);\n"
        ));
        assert!(!is_cpp(
            "#ifdef __cplusplus\nextern \"C\" {\nnamespace x {}\n#endif\nint f(void);\n#ifdef __cplusplus\n}\n#endif\n"
        ));
        assert!(!is_cpp(
            "#if defined(__cplusplus)\ntemplate <class T> void g(T);\n#else\nvoid g(int);\n#endif\n"
        ));
        assert!(is_cpp(
            "#ifndef __cplusplus\nvoid g(int);\n#else\ntemplate <class T> void g(T);\n#endif\nclass X {};\n"
        ));
        assert!(!is_cpp(
            "/* template <T> class X { public: } */\n// namespace y {\nconst char *s = \"class A {\";\n#include <linux/types.h>\nint public_count;\n"
        ));
        // A comment opened on a preprocessor line runs on past it.
        assert!(!is_cpp(
            "#define STI 3 /* sti enabled\n   virtual interrupts */\n#define B 1 /*\n * virtual block\n */\nint x;\n"
        ));
    }

    #[test]
    fn names_decide_except_for_dot_h() {
        let d = |n: &str| Detection::from_file_name(OsStr::new(n));
        assert_eq!(d("a.c"), Some(Detection::Known(Language::C)));
        assert_eq!(d("a.C"), Some(Detection::Known(Language::Cpp)));
        assert_eq!(d("a.H"), Some(Detection::Known(Language::Cpp)));
        assert_eq!(d("a.hpp"), Some(Detection::Known(Language::Cpp)));
        assert_eq!(d("a.h"), Some(Detection::Header));
        assert_eq!(d("Makefile"), None);
        assert!(Detection::Header.may_be(Language::Cpp));
        assert!(!Detection::Header.may_be(Language::Rust));
        assert_eq!(Detection::Header.resolve(b"class A {\n};\n"), Language::Cpp);
        assert_eq!(Detection::Header.resolve(b"int f(void);\n"), Language::C);
    }
}
