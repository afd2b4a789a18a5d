//! Checks on text people read: names of files, members, families and services.
//!
//! Invisible formatting characters (Unicode general category Cf) are refused: a right-to-left override (U+202E)
//! makes `facture\u{202E}fdp.exe` display as `factureexe.pdf`, zero-width characters make two names look the
//! same, and tag characters hide text. The table is `unicode-properties`' (Unicode 18).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::{Error, Result};

/// The first invisible formatting character (general category Cf) in `text`: bidi controls (U+061C, U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069), zero-width characters (U+200B–U+200D, U+2060–U+2064, U+FEFF), the
/// soft hyphen U+00AD, U+180E, interlinear annotation controls (U+FFF9–U+FFFB), tags (U+E0001, U+E0020–U+E007F)…
pub(crate) fn format_character(text: &str) -> Option<char> {
    text.chars().find(|c| c.general_category() == GeneralCategory::Format)
}

/// Refuses `text` if it holds an invisible formatting character; `what` names it in the error (`a file name`).
pub(crate) fn refuse_format_characters(text: &str, what: &str) -> Result<()> {
    match format_character(text) {
        Some(c) => Err(Error::InvalidInput(format!("{what} cannot contain invisible formatting characters (found U+{:04X})", c as u32))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_format_character_is_refused_and_ordinary_text_is_not() {
        let listed = [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}',
            '\u{FEFF}', '\u{00AD}', '\u{180E}', '\u{FFF9}', '\u{FFFA}', '\u{FFFB}', '\u{E0001}', '\u{E0020}', '\u{E0041}', '\u{E007F}',
        ];
        for c in listed {
            let name = format!("facture{c}fdp.exe");
            assert_eq!(format_character(&name), Some(c), "U+{:04X}", c as u32);
            let err = refuse_format_characters(&name, "a file name").unwrap_err().to_string();
            assert!(err.starts_with("a file name cannot contain invisible formatting characters"), "{err}");
        }
        for ok in ["bulletin 2e trimestre.pdf", "Léa Ñúñez-Østergård", "名前.txt", "عربي", "emoji 📄"] {
            assert_eq!(format_character(ok), None, "{ok}");
        }
    }
}
