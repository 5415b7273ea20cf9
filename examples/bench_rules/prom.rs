//! Reading dbkill's `/metrics` (Prometheus text exposition): the sum of one metric's samples,
//! optionally only those carrying one label value, and the per-tick means the benchmark derives
//! from two scrapes of a histogram.

use anyhow::{Context, Result};

use crate::service::Dbkill;

/// One scrape of `/metrics`.
pub struct Scrape(String);

impl Scrape {
    pub async fn take(dbkill: &Dbkill) -> Result<Scrape> {
        let resp = dbkill
            .http
            .get(format!("{}/metrics", dbkill.base))
            .send()
            .await
            .context("GET /metrics")?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status.is_success(), "GET /metrics: {status}");
        Ok(Scrape(text))
    }

    /// The sum of every sample named exactly `name` that carries `label="value"` when a label is
    /// given; `None` when no sample matched (the metric is not exported yet).
    pub fn sum(&self, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        sum(&self.0, name, label)
    }
}

fn sum(text: &str, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let wanted = label.map(|(k, v)| format!("{k}=\"{v}\""));
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, labels) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        // Label values here are ids and bucket bounds: no commas or quotes inside them.
        if let Some(w) = &wanted
            && !labels.split(',').any(|l| l == w)
        {
            continue;
        }
        if let Ok(v) = value.parse::<f64>() {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

/// A histogram's change between two scrapes: observations, their sum, and how many of them
/// fell in the bucket `le` given.
pub struct HistogramDelta {
    pub count: f64,
    pub sum: f64,
    pub within: Option<f64>,
}

impl HistogramDelta {
    /// `None` when the histogram is missing from either scrape.
    pub fn between(before: &Scrape, after: &Scrape, name: &str, le: &str) -> Option<Self> {
        let delta = |suffix: &str, label| {
            let metric = format!("{name}{suffix}");
            Some(after.sum(&metric, label)? - before.sum(&metric, label).unwrap_or(0.0))
        };
        Some(HistogramDelta {
            count: delta("_count", None)?,
            sum: delta("_sum", None)?,
            within: delta("_bucket", Some(("le", le))),
        })
    }

    /// Mean seconds per observation, when there was one.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::sum;

    const TEXT: &str = "# TYPE dbkill_rule_ticks_total counter
dbkill_rule_ticks_total{instance_id=\"a\"} 3
dbkill_rule_ticks_total{instance_id=\"b\"} 4
dbkill_rule_match_seconds_bucket{le=\"0.005\"} 7
dbkill_rule_match_seconds_bucket{le=\"0.01\"} 9
dbkill_rule_match_seconds_sum 0.0125
dbkill_rule_match_seconds_count 9
";

    #[test]
    fn sums_all_or_one_label() {
        assert_eq!(sum(TEXT, "dbkill_rule_ticks_total", None), Some(7.0));
        assert_eq!(
            sum(TEXT, "dbkill_rule_ticks_total", Some(("instance_id", "b"))),
            Some(4.0)
        );
        assert_eq!(
            sum(
                TEXT,
                "dbkill_rule_match_seconds_bucket",
                Some(("le", "0.005"))
            ),
            Some(7.0)
        );
        assert_eq!(
            sum(TEXT, "dbkill_rule_match_seconds_sum", None),
            Some(0.0125)
        );
        assert_eq!(sum(TEXT, "dbkill_rule_missing", None), None);
    }
}
