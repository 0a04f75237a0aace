//! Did-you-mean: the closest known word to a misspelled one. The one
//! suggestion function of the compiler (the parser, the checker, recorded
//! traffic, the driver); only the runtime, which may not depend on the
//! compiler, has its own.

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo: a case-insensitive Damerau-Levenshtein distance within a limit
/// that grows with the word (1 up to 2 characters, 2 up to 5, a third of
/// the word beyond), or a shared prefix of at least 3 characters. Ties go
/// to the first candidate.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = if c.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &c.to_lowercase())
        };
        let limit = match word.chars().count() {
            0..=2 => 1,
            3..=5 => 2,
            n => (n / 3).max(2),
        };
        let prefix = c.len() >= 3
            && (lower.starts_with(&c.to_lowercase())
                || c.to_lowercase().starts_with(&lower) && lower.len() >= 3);
        if (d <= limit || prefix) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest as best;

    #[test]
    fn finds_typos() {
        assert_eq!(best("medum", ["small", "medium", "large"]), Some("medium"));
        assert_eq!(
            best("heder", ["header", "metadata", "classifier"]),
            Some("header")
        );
        assert_eq!(best("sec", ["ms", "s", "m", "h", "d"]), Some("s"));
        assert_eq!(best("zzzzzz", ["small", "medium"]), None);
    }
}
