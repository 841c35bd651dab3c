//! Checks on everything a caller hands in, done before a single byte is sent.

use std::collections::HashSet;

use super::error::{quote, Error, Result};

/// Longest stretch of a caller's item quoted back in a message.
const QUOTE_MAX: usize = 120;

pub fn resource_id(id: i64) -> Result<()> {
    if id <= 0 {
        return Err(Error::invalid(format!(
            "resource id must be a positive integer, got {id}"
        )));
    }
    Ok(())
}

/// What kind of item a list holds: the rules and the words differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Url,
    Pattern,
}

impl ItemKind {
    /// `URL` / `pattern`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            ItemKind::Url => "URL",
            ItemKind::Pattern => "pattern",
        }
    }
}

/// Check one URL or pattern; `index` is its place in the caller's list (0-based).
pub fn item(kind: ItemKind, index: usize, text: &str) -> Result<()> {
    let noun = kind.noun();
    if text.is_empty() {
        return Err(Error::invalid(format!("{noun} {index} is empty")));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "{noun} {index} {} contains the control character {:?}",
            quote(text, QUOTE_MAX),
            c
        )));
    }
    if !text.starts_with('/') {
        let hint = suggest_path(text)
            .map(|p| format!(": use {}", quote(p, QUOTE_MAX)))
            .unwrap_or_default();
        return Err(Error::invalid(format!(
            "{noun} {index} {} must be a path starting with \"/\", without scheme or host{hint}",
            quote(text, QUOTE_MAX)
        )));
    }
    if kind == ItemKind::Pattern {
        if let Some(pos) = text.find('*') {
            if pos != text.len() - 1 {
                return Err(Error::invalid(format!(
                    "pattern {index} {} may have \"*\" only as its last character",
                    quote(text, QUOTE_MAX)
                )));
            }
        }
    }
    Ok(())
}

/// For `https://cdn.example.com/a.jpg?v=2`, the path the caller most likely meant: `/a.jpg?v=2`.
fn suggest_path(text: &str) -> Option<&str> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text[8..]
    } else if lower.starts_with("http://") {
        &text[7..]
    } else {
        return None;
    };
    let path = &rest[rest.find(['/', '?', '#'])?..];
    if path.starts_with('/') {
        Some(path)
    } else {
        None
    }
}

/// Most items one purge call accepts (before de-duplication); more is an invalid argument.
pub const MAX_ITEMS: usize = 1_000_000;

/// Up to this many unique items, repeats are found by a linear search: cheaper than hashing.
const LINEAR_DEDUP_MAX: usize = 16;

/// Check every item and drop repeats, keeping the first occurrence of each, in order.
/// An empty list is an error: it must never turn into "purge everything"; so is a list of
/// more than [`MAX_ITEMS`].
pub fn unique_items<'a, S: AsRef<str> + 'a>(
    kind: ItemKind,
    items: impl IntoIterator<Item = &'a S>,
) -> Result<Vec<&'a str>> {
    let items = items.into_iter();
    let too_many = |n: String| {
        let noun = kind.noun();
        Error::invalid(format!(
            "{n} {noun}s given; one call takes at most {MAX_ITEMS}"
        ))
    };
    if items.size_hint().0 > MAX_ITEMS {
        return Err(too_many(items.size_hint().0.to_string()));
    }
    let mut unique: Vec<&str> = Vec::with_capacity(items.size_hint().0);
    // Short lists (the common case) are searched, not hashed; a set takes over past that.
    let mut seen: Option<HashSet<&str>> = None;
    for (index, text) in items.enumerate() {
        if index == MAX_ITEMS {
            return Err(too_many(format!("more than {MAX_ITEMS}")));
        }
        let text = text.as_ref();
        item(kind, index, text)?;
        let new = match &mut seen {
            Some(set) => set.insert(text),
            None if unique.len() < LINEAR_DEDUP_MAX => !unique.contains(&text),
            None => {
                let mut set: HashSet<&str> = unique.iter().copied().collect();
                let new = set.insert(text);
                seen = Some(set);
                new
            }
        };
        if new {
            unique.push(text);
        }
    }
    if unique.is_empty() {
        return Err(Error::invalid(format!(
            "no {}s given: an empty list purges nothing (to purge the whole cache, use purge_all)",
            kind.noun()
        )));
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Result<Vec<String>> {
        unique_items(ItemKind::Url, list.iter()).map(|v| v.into_iter().map(str::to_owned).collect())
    }

    fn patterns(list: &[&str]) -> Result<Vec<String>> {
        unique_items(ItemKind::Pattern, list.iter())
            .map(|v| v.into_iter().map(str::to_owned).collect())
    }

    #[test]
    fn resource_ids() {
        assert!(resource_id(1).is_ok());
        assert!(resource_id(i64::MAX).is_ok());
        assert!(resource_id(0).is_err());
        assert!(resource_id(-5).unwrap_err().message.contains("-5"));
    }

    #[test]
    fn urls_are_deduplicated_in_first_occurrence_order() {
        let got = urls(&["/b", "/a", "/b", "/c?x=1", "/a", "/c?x=2"]).unwrap();
        assert_eq!(got, ["/b", "/a", "/c?x=1", "/c?x=2"]);
    }

    #[test]
    fn dedup_past_the_linear_search_keeps_order() {
        let list: Vec<String> = (0..200).map(|i| format!("/f{}", (i * 7) % 40)).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let got = urls(&refs).unwrap();
        let mut expected: Vec<String> = Vec::new();
        for s in &list {
            if !expected.contains(s) {
                expected.push(s.clone());
            }
        }
        assert_eq!(got.len(), 40);
        assert_eq!(got, expected);
    }

    #[test]
    fn more_than_max_items_is_refused() {
        let list = vec!["/a"; MAX_ITEMS + 1];
        let e = urls(&list).unwrap_err();
        assert!(e.message.starts_with("1000001 URLs given"), "{}", e.message);
        assert_eq!(urls(&list[..MAX_ITEMS]).unwrap(), ["/a"]);
        // An iterator that does not know its length is stopped too.
        let e = unique_items(ItemKind::Pattern, list.iter().filter(|_| true)).unwrap_err();
        assert!(
            e.message.starts_with("more than 1000000 patterns"),
            "{}",
            e.message
        );
    }

    #[test]
    fn empty_lists_are_refused() {
        let e = urls(&[]).unwrap_err();
        assert!(e.message.contains("purge_all"), "{}", e.message);
        assert!(patterns(&[]).is_err());
    }

    #[test]
    fn full_urls_are_refused_with_a_suggested_path() {
        let e = urls(&["/ok", "https://cdn.example.com/img/a.jpg?v=2"]).unwrap_err();
        assert!(e.message.starts_with("URL 1 "), "{}", e.message);
        assert!(
            e.message.contains("use \"/img/a.jpg?v=2\""),
            "{}",
            e.message
        );
        let e = urls(&["HTTP://cdn.example.com"]).unwrap_err();
        assert!(!e.message.contains("use"), "{}", e.message);
        let e = urls(&["img/a.jpg"]).unwrap_err();
        assert!(
            e.message.contains("must be a path starting with"),
            "{}",
            e.message
        );
    }

    #[test]
    fn empty_and_control_characters_are_refused() {
        assert!(urls(&["/a", ""])
            .unwrap_err()
            .message
            .contains("URL 1 is empty"));
        let e = urls(&["/a\r\nHost: evil"]).unwrap_err();
        assert!(e.message.contains("control character"), "{}", e.message);
        assert!(!e.message.contains('\n'));
        assert!(urls(&["/a\0b"]).is_err());
        assert!(urls(&["/a\u{7f}"]).is_err());
    }

    #[test]
    fn star_only_at_the_end_of_a_pattern() {
        assert!(patterns(&["/images/*", "/videos", "/*"]).is_ok());
        let e = patterns(&["/a/*/b"]).unwrap_err();
        assert!(e.message.contains("last character"), "{}", e.message);
        assert!(patterns(&["/a**"]).is_err());
        assert!(patterns(&["*.jpg"]).is_err());
        // In a URL a star is just a character.
        assert!(urls(&["/a*b"]).is_ok());
    }

    #[test]
    fn unicode_paths_are_fine() {
        assert!(urls(&["/фото/кот.jpg", "/日本"]).is_ok());
    }
}
