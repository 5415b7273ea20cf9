//! SQL `LIKE` for a rule's `host`: `%` any run of characters, `_` one character, `\` escapes the
//! next one; case-insensitive, as MySQL compares host names. Matched against the client address
//! without its port.

/// `10.0.0.5:51234` → `10.0.0.5`; `localhost` (a socket) stays as it is. MySQL appends the
/// port to every TCP client's address, IPv6 ones included (`::1:51234`).
pub fn client_address(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((addr, port))
            if !addr.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            addr
        }
        _ => host,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Char(char),
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().flat_map(char::to_lowercase);
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            // A trailing backslash stands for itself, as in MySQL.
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    out
}

/// Whether `text` matches the `LIKE` pattern, ignoring case. Linear backtracking on the last
/// `%` only, so no pattern can make it slow.
pub fn like_matches(pattern: &str, text: &str) -> bool {
    let p = tokens(pattern);
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(Token::Any) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Token::One) => {
                pi += 1;
                ti += 1;
            }
            Some(Token::Char(c)) if *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_cut_off_and_sockets_kept() {
        assert_eq!(client_address("100.1.2.3:5121"), "100.1.2.3");
        assert_eq!(client_address("::1:5121"), "::1");
        assert_eq!(client_address("localhost"), "localhost");
        assert_eq!(client_address("db.example:"), "db.example:");
        assert_eq!(client_address(""), "");
    }

    #[test]
    fn like_follows_sql() {
        assert!(like_matches("100.%", "100.1.2.3"));
        assert!(!like_matches("100.%", "10.0.1.2"));
        assert!(like_matches("10._.0.%", "10.1.0.7"));
        assert!(!like_matches("10._.0.%", "10.11.0.7"));
        assert!(like_matches("%", ""));
        assert!(!like_matches("_", ""));
        assert!(like_matches("LOCAL%", "localhost"));
        assert!(like_matches("a\\%b", "a%b"));
        assert!(!like_matches("a\\%b", "axb"));
        assert!(like_matches("%.5", "10.0.0.5"));
        assert!(like_matches("%a%b%", "xxaxxbxx"));
        assert!(!like_matches("%a%b%", "xxbxxaxx"));
        assert!(like_matches("a%%%", "a"));
    }

    /// A reference matcher: the regular expression the pattern means.
    fn by_regex(pattern: &str, text: &str) -> bool {
        let mut re = String::from("(?is)^");
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => re.push_str(".*"),
                '_' => re.push('.'),
                '\\' => re.push_str(&regex::escape(&chars.next().unwrap_or('\\').to_string())),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap().is_match(text)
    }

    proptest::proptest! {
        #[test]
        fn like_agrees_with_its_regular_expression(
            pattern in "[ab%_.\\\\]{0,8}",
            text in "[abAB.%_]{0,10}",
        ) {
            proptest::prop_assert_eq!(like_matches(&pattern, &text), by_regex(&pattern, &text));
        }
    }
}
