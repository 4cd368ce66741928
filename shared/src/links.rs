//! Which parts of a message are web links: `http://` and `https://`
//! addresses, up to the next blank, without trailing punctuation. Nothing
//! else ever becomes markup; a page shows the rest as text.

/// A run of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Plain text.
    Text(&'a str),
    /// A web address, to show as a link to itself.
    Link(&'a str),
}

/// Punctuation that ends a sentence rather than an address.
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', '\'', '"', '>', ']', '}'];

/// `text` cut into plain text and web links, in order.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = next_address(rest) {
        let (before, from) = rest.split_at(start);
        let end = from.find(char::is_whitespace).unwrap_or(from.len());
        let address = trim_trailing(&from[..end]);
        let scheme_end = address.find("://").map_or(0, |at| at + 3);
        if address.len() <= scheme_end {
            // A bare "https://": text, and look further on.
            let (text, after) = from.split_at(scheme_end.max(1));
            push_text(&mut pieces, &rest[..before.len() + text.len()]);
            rest = after;
            continue;
        }
        push_text(&mut pieces, before);
        pieces.push(Piece::Link(address));
        rest = &from[address.len()..];
    }
    push_text(&mut pieces, rest);
    pieces
}

/// Where the next `http://` or `https://` (in any case) starts, at the
/// start of the text or after a character that is not a letter or digit.
fn next_address(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let tail = &lower[at..];
        let starts_word = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if starts_word && (tail.starts_with("http://") || tail.starts_with("https://")) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// `address` without the sentence's punctuation after it; a closing
/// parenthesis stays when it closes one the address opened (Wikipedia's).
fn trim_trailing(mut address: &str) -> &str {
    loop {
        let trimmed = address.trim_end_matches(TRAILING);
        let unbalanced = trimmed.matches(')').count() > trimmed.matches('(').count();
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if unbalanced => inner,
            _ => trimmed,
        };
        if trimmed.len() == address.len() {
            return address;
        }
        address = trimmed;
    }
}

fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: &'a str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
}

#[cfg(test)]
mod tests {
    use super::Piece::{Link, Text};
    use super::*;

    #[test]
    fn web_addresses_become_links_and_the_rest_stays_text() {
        assert_eq!(
            pieces("see https://example.com/a?b=1#c, then http://x.org."),
            [
                Text("see "),
                Link("https://example.com/a?b=1#c"),
                Text(", then "),
                Link("http://x.org"),
                Text("."),
            ]
        );
        assert_eq!(pieces("HTTPS://EXAMPLE.COM"), [Link("HTTPS://EXAMPLE.COM")]);
        assert_eq!(
            pieces("(https://en.wikipedia.org/wiki/Rust_(programming_language))"),
            [
                Text("("),
                Link("https://en.wikipedia.org/wiki/Rust_(programming_language)"),
                Text(")"),
            ]
        );
    }

    #[test]
    fn nothing_else_becomes_a_link() {
        for text in [
            "javascript:alert(1)",
            "<a href=\"javascript:alert(1)\">click</a>",
            "data:text/html,<script>alert(1)</script>",
            "ftp://example.com",
            "xhttps://example.com",
            "https://",
            "plain words",
        ] {
            assert!(
                pieces(text).iter().all(|p| matches!(p, Text(_))),
                "{text}: {:?}",
                pieces(text)
            );
            let joined: String = pieces(text)
                .iter()
                .map(|p| match p {
                    Text(t) | Link(t) => *t,
                })
                .collect();
            assert_eq!(joined, text, "nothing is lost");
        }
    }
}
