//! "Did you mean …?": the closest candidate within a small edit distance, as BuildKit's
//! `suggest` package offers for unknown instructions, flags, mount keys and targets.

/// Edit distance between `a` and `b` (case-insensitive), counting a swap of two
/// neighbouring characters as one edit (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let max = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean X?` for the closest candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean {c}?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let words = ["COPY", "CMD", "RUN", "ENTRYPOINT"];
        assert_eq!(closest("COPPY", words), Some("COPY"));
        assert_eq!(closest("copy", words), Some("COPY"));
        assert_eq!(closest("ENTRYPIONT", words), Some("ENTRYPOINT"));
        assert_eq!(closest("XYZZY", words), None);
        assert_eq!(closest("buidl", ["build", "test"]), Some("build"));
        assert_eq!(
            did_you_mean("RUNN", words).as_deref(),
            Some("did you mean RUN?")
        );
    }
}
