//! How tokens are encoded as 16-bit symbols.
//!
//! Keywords, operators and punctuation map to values below [`LITERAL`] (a
//! fold of their text hash); every literal is [`LITERAL`]; an identifier is
//! [`IDENTIFIER`] or'ed with the distance in tokens back to the previous
//! use of the same name in the file (0 for a first use, capped at
//! [`MAX_DISTANCE`]). Consistent renaming keeps every symbol; using
//! a different variable changes one.

pub const LITERAL: u16 = 0xEFFF;
pub const IDENTIFIER: u16 = 0xF000;
pub const MAX_DISTANCE: u16 = 0x0FFF;

/// Rewrites a slice of a file's symbols as seen from the slice alone: a name whose
/// previous use lies before the slice is a first use.
pub fn relative_to_fragment(symbols: &[u16], out: &mut Vec<u16>) {
    out.clear();
    out.extend(symbols.iter().enumerate().map(|(i, &s)| relative(i, s)));
}

/// Symbol `s`, the `i`-th of a slice, as seen from the slice alone.
#[inline]
pub fn relative(i: usize, s: u16) -> u16 {
    if s >= IDENTIFIER && (s & MAX_DISTANCE) as usize > i {
        IDENTIFIER
    } else {
        s
    }
}
