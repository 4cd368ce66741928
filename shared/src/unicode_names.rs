//! Names that could pass for someone else's: invisible and
//! direction-changing characters, and look-alikes (Unicode TS #39
//! confusable skeletons, after NFKC, ignoring case and combining marks).
//! With the `unicode-names` feature (the server); without it (the browser
//! bundle, which leaves the tables out) both checks pass and the server's
//! answer decides.

/// Whether `name` holds a character of Unicode category Cf (format):
/// zero-width spaces and joiners, bidi embeddings, overrides and isolates,
/// the byte-order mark, invisible operators and tags.
#[cfg(feature = "unicode-names")]
pub(crate) fn has_format_char(name: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    name.chars()
        .any(|c| c.general_category() == GeneralCategory::Format)
}

/// Whether `name` could be read as `other`: the same confusable skeleton
/// once both are NFKC-normalised (full-width letters become plain ones),
/// lower-cased, and stripped of combining marks.
#[cfg(feature = "unicode-names")]
pub(crate) fn looks_like(name: &str, other: &str) -> bool {
    fn folded(text: &str) -> String {
        use unicode_normalization::UnicodeNormalization as _;
        use unicode_normalization::char::is_combining_mark;
        let plain: String = text
            .nfkc()
            .collect::<String>()
            .to_lowercase()
            .nfd()
            .filter(|c| !is_combining_mark(*c))
            .collect();
        unicode_security::skeleton(&plain).collect::<String>()
    }
    folded(name) == folded(other)
}

#[cfg(not(feature = "unicode-names"))]
pub(crate) fn has_format_char(_name: &str) -> bool {
    false
}

#[cfg(not(feature = "unicode-names"))]
pub(crate) fn looks_like(_name: &str, _other: &str) -> bool {
    false
}

#[cfg(all(test, feature = "unicode-names"))]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_direction_characters_are_found() {
        for name in [
            "ChatFriend\u{200b}",
            "\u{200b}ChatFriend",
            "Ann\u{2060}",
            "\u{feff}Bob",
            "evil\u{202e}dneirf",
            "a\u{2066}b\u{2069}",
            "x\u{200d}y",
        ] {
            assert!(has_format_char(name), "{name:?}");
        }
        assert!(!has_format_char("Zoë Ångström-Ñandú 李雷 محمد"));
    }

    #[test]
    fn look_alikes_of_the_bot_are_found_and_other_names_are_not() {
        for name in [
            "ChatFriend",
            "CHATFRIEND",
            "ChatFr\u{456}end",         // Cyrillic і
            "\u{ff23}\u{ff48}atFriend", // full-width Ch
            "Cha\u{301}tFriend",        // a with a combining acute
            "\u{421}hatFriend",         // Cyrillic С
        ] {
            assert!(looks_like(name, "ChatFriend"), "{name:?}");
        }
        for name in ["ChatFriends", "Chat Friend Fan", "Ann", "ChatBuddy"] {
            assert!(!looks_like(name, "ChatFriend"), "{name:?}");
        }
    }
}
