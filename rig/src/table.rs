//! The rig's tables (vm/*.list) share one text form: one row per line,
//! whitespace-separated columns, `#` comment lines and blank lines ignored.

/// The rows of a table: (line number from 1, the line trimmed).
pub fn rows(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, raw)| (i + 1, raw.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_and_blanks_are_not_rows() {
        let rows: Vec<_> = super::rows("# head\n\n  a 1  \n# x\nb 2\n").collect();
        assert_eq!(rows, [(3, "a 1"), (5, "b 2")]);
    }
}
