//! Reading `/metrics` (Prometheus text): the samples of one metric with their labels, and the
//! sum of those whose labels match, so that a test can watch a counter of its own instance or
//! rule grow while other tests of the process (which share the recorder) add to other series.

use std::collections::BTreeMap;

use reqwest::Method;

use super::app::TestApp;

/// One sample line: its labels and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of `name` in `text` (not those of `name_bucket`, `name_sum`, …).
pub fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let end = inner.rfind('}')?;
                    (parse_labels(&inner[..end]), &inner[end + 1..])
                }
                None if rest.starts_with(' ') => (BTreeMap::new(), rest),
                None => return None,
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let key = key.trim_start_matches(',').trim().to_owned();
        if key.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
    }
}

/// The sum of the samples of `name` carrying every label of `labels` (0 when there is none).
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .iter()
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// `/metrics` of `app` now.
pub async fn scrape(app: &TestApp) -> String {
    let r = app
        .raw_request(Method::GET, "/metrics", None, &[], None)
        .await;
    assert_eq!(r.status.as_u16(), 200, "/metrics: {}", r.text);
    r.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_samples_are_summed_by_their_labels() {
        let text = "# TYPE t counter\n\
                    t{instance_id=\"a\",reason=\"timeout\"} 2\n\
                    t{reason=\"refused\",instance_id=\"a\"} 3\n\
                    t{instance_id=\"b\",reason=\"timeout\"} 5\n\
                    t_bucket{le=\"1\"} 9\n\
                    u 7\n";
        assert_eq!(sum(text, "t", &[("instance_id", "a")]), 5.0);
        assert_eq!(sum(text, "t", &[("reason", "timeout")]), 7.0);
        assert_eq!(sum(text, "t", &[("instance_id", "c")]), 0.0);
        assert_eq!(sum(text, "u", &[]), 7.0);
        let with_quote = samples("v{k=\"x\\\"y\",j=\"2\"} 1", "v");
        assert_eq!(with_quote[0].labels["k"], "x\"y");
        assert_eq!(with_quote[0].labels["j"], "2");
    }
}
