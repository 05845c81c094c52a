//! The server's `/metrics` (OpenMetrics text) as `bench-watch` reads it: samples by name and
//! labels ([`Scrape`]), and a histogram's change between two scrapes ([`HistogramScrape`]),
//! so a window's tick-time percentiles come from the server's own histogram.

/// One scrape: every sample line, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    samples: Vec<(String, f64)>,
}

/// A histogram's cumulative buckets, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramScrape {
    /// `(upper bound, cumulative count)`, ascending, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

impl Scrape {
    /// Parses an exposition; comment lines and lines that do not end in a number are skipped.
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.trim().to_string(), value.trim().parse::<f64>().ok()?))
            })
            .collect();
        Scrape { samples }
    }

    /// The value of a series written exactly as in the exposition (`tickwire_rooms`,
    /// `tickwire_clients{role="player"}`).
    pub fn value(&self, series: &str) -> Option<f64> {
        self.samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
    }

    /// The sum over every label set of metric `name` (`tickwire_closes_total` over codes).
    pub fn total(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(s, _)| s == name || s.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .map(|(_, v)| v)
            .sum()
    }

    /// Histogram `name` (without its `_bucket` suffix), if it is there.
    pub fn histogram(&self, name: &str) -> Option<HistogramScrape> {
        let prefix = format!("{name}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter_map(|(s, v)| {
                let bound = s.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
                Some((bound, *v))
            })
            .collect();
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(HistogramScrape {
            buckets,
            sum: self.value(&format!("{name}_sum"))?,
            count: self.value(&format!("{name}_count"))?,
        })
    }
}

impl HistogramScrape {
    /// The observations made between `earlier` and this scrape.
    pub fn since(&self, earlier: &HistogramScrape) -> HistogramScrape {
        let buckets = self
            .buckets
            .iter()
            .map(|&(bound, count)| {
                let before =
                    earlier.buckets.iter().find(|(b, _)| *b == bound).map_or(0.0, |(_, c)| *c);
                (bound, (count - before).max(0.0))
            })
            .collect();
        HistogramScrape {
            buckets,
            sum: (self.sum - earlier.sum).max(0.0),
            count: (self.count - earlier.count).max(0.0),
        }
    }

    /// The upper bound of the bucket that holds quantile `q`: at least a fraction `q` of the
    /// observations were at most this. `None` without observations; infinite when it falls
    /// in `+Inf`.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = (q * self.count).ceil().max(1.0);
        self.buckets.iter().find(|(_, cumulative)| *cumulative >= rank).map(|(bound, _)| *bound)
    }

    /// The mean observation, exact (from the sum and count).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "\
# HELP tickwire_clients Clients in rooms, by role.
# TYPE tickwire_clients gauge
tickwire_clients{role=\"player\"} 2000
tickwire_clients{role=\"spectator\"} 3
# TYPE tickwire_tick_duration_seconds histogram
tickwire_tick_duration_seconds_sum 1.5
tickwire_tick_duration_seconds_count 1000
tickwire_tick_duration_seconds_bucket{le=\"0.0001\"} 100
tickwire_tick_duration_seconds_bucket{le=\"0.0002\"} 900
tickwire_tick_duration_seconds_bucket{le=\"0.0004\"} 995
tickwire_tick_duration_seconds_bucket{le=\"0.0008\"} 1000
tickwire_tick_duration_seconds_bucket{le=\"+Inf\"} 1000
tickwire_late_ticks_total 4
# EOF
";

    #[test]
    fn values_totals_and_histograms() {
        let scrape = Scrape::parse(EXPOSITION);
        assert_eq!(scrape.value("tickwire_clients{role=\"player\"}"), Some(2000.0));
        assert_eq!(scrape.value("tickwire_late_ticks_total"), Some(4.0));
        assert_eq!(scrape.value("tickwire_rooms"), None);
        assert_eq!(scrape.total("tickwire_clients"), 2003.0);
        let ticks = scrape.histogram("tickwire_tick_duration_seconds").unwrap();
        assert_eq!(ticks.quantile_bound(0.5), Some(0.0002));
        assert_eq!(ticks.quantile_bound(0.99), Some(0.0004));
        assert_eq!(ticks.quantile_bound(0.999), Some(0.0008));
        assert_eq!(ticks.mean(), Some(0.0015));
        assert!(scrape.histogram("tickwire_nothing").is_none());
    }

    #[test]
    fn a_window_is_the_difference_of_two_scrapes() {
        let start = Scrape::parse(EXPOSITION).histogram("tickwire_tick_duration_seconds").unwrap();
        let later = EXPOSITION
            .replace("_sum 1.5", "_sum 1.8")
            .replace("_count 1000", "_count 1100")
            .replace("\"0.0008\"} 1000", "\"0.0008\"} 1050")
            .replace("\"+Inf\"} 1000", "\"+Inf\"} 1100");
        let end = Scrape::parse(&later).histogram("tickwire_tick_duration_seconds").unwrap();
        let window = end.since(&start);
        assert_eq!(window.count, 100.0);
        assert!((window.mean().unwrap() - 0.003).abs() < 1e-12);
        // 50 in the 0.8 ms bucket, 50 beyond the last bound.
        assert_eq!(window.quantile_bound(0.5), Some(0.0008));
        assert_eq!(window.quantile_bound(0.99), Some(f64::INFINITY));
        let empty = start.since(&start);
        assert_eq!(empty.quantile_bound(0.99), None);
        assert_eq!(empty.mean(), None);
    }
}
