//! Go's `unicode` predicates, reproduced exactly: BuildKit classifies characters with them,
//! and Rust's `char` methods draw some lines elsewhere (`is_alphabetic` is the Alphabetic
//! property, not category L; `is_numeric` is all of N, not Nd).

use unicode_general_category::{GeneralCategory as Gc, get_general_category};

/// Go's `unicode.IsSpace`: the Unicode White_Space property, which `char::is_whitespace`
/// implements too.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsSpace` applied to a single byte read as Latin-1, as BuildKit's flag
/// and HEALTHCHECK splitters do (so 0x85 and 0xA0 count).
pub(crate) fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// Go's `unicode.IsLetter`: general category L.
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

/// Go's `unicode.IsDigit`: general category Nd.
pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c) == Gc::DecimalNumber
}

/// Go's `unicode.IsPrint`: categories L, M, N, P, S, and the ASCII space only.
pub(crate) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::SpaceSeparator
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_predicates() {
        assert!(is_space('\u{85}') && is_space('\u{a0}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200b}'));
        assert!(is_letter('한') && is_letter('é') && !is_letter('\u{0345}'));
        assert!(is_digit('٣') && !is_digit('Ⅳ') && !is_digit('½'));
        assert!(is_print('♥') && is_print(' ') && is_print('☃'));
        assert!(!is_print('\u{a0}') && !is_print('\u{7f}') && !is_print('\u{200b}'));
        assert!(!is_print('\u{e000}') && !is_print('\u{2028}'));
    }
}
