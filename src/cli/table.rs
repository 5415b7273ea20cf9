//! Aligned plain-text tables, and how values from the server are made safe to show in a terminal.

/// How a column is aligned; numbers read best right-aligned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    headers: Vec<&'static str>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// `columns`: header and alignment of each column.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|c| c.0).collect(),
            align: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; every cell goes through [`clean`].
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    /// The table, columns two spaces apart, each line ending in `\n`, no trailing blanks.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(width(c));
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = String::new();
        for r in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[i] - width(c));
                if self.align[i] == Align::Right {
                    line.push_str(&pad);
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&pad);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell on one line with no control characters: SQL text and host names come from the
/// database, and a newline would break the table while an escape sequence could rewrite the
/// user's terminal.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            if !blank && !out.is_empty() {
                out.push(' ');
            }
            blank = true;
        } else {
            out.push(c);
            blank = false;
        }
    }
    out.trim_end().to_owned()
}

/// At most `max` characters, the last one `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Unix milliseconds as RFC 3339 in the local time zone, e.g. `2026-05-01T14:03:07.123+08:00`.
pub fn local_time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        }
        chrono::LocalResult::None => ms.to_string(),
    }
}

/// An RFC 3339 time from the server, shown in the local time zone (unchanged if unparsable).
pub fn local_rfc3339(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| local_time(t.timestamp_millis()))
        .unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut t = Table::new(&[
            ("ID", Align::Right),
            ("USER", Align::Left),
            ("SQL", Align::Left),
        ]);
        t.row(vec!["7".into(), "app".into(), "SELECT 1".into()]);
        t.row(vec!["1234".into(), "x".into(), String::new()]);
        assert_eq!(
            t.render(),
            "  ID  USER  SQL\n   7  app   SELECT 1\n1234  x\n"
        );
    }

    #[test]
    fn cells_lose_newlines_and_escape_sequences() {
        assert_eq!(clean("SELECT\n  1,\t2\r\n"), "SELECT 1, 2");
        assert_eq!(clean("a\u{1b}[2Jb"), "a [2Jb");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
        assert_eq!(truncate("会话会话会话", 3), "会话…");
    }

    #[test]
    fn server_times_are_shown_with_an_offset() {
        let shown = local_rfc3339("2026-01-02T03:04:05.006Z");
        let back = chrono::DateTime::parse_from_rfc3339(&shown).unwrap();
        assert_eq!(back.timestamp_millis(), 1_767_323_045_006);
        assert_eq!(local_rfc3339("not a time"), "not a time");
    }
}
