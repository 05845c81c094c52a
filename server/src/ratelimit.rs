//! A token bucket, sans-IO: the caller passes the time; and one per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Allows `rate` events per second on average and `burst` back to back.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self::with_rate(f64::from(rate), burst, now)
    }

    /// A full bucket at `now` refilling at `rate` a second, which may be a fraction (`64.0 /
    /// 60.0`: 64 a minute).
    pub fn with_rate(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate: rate.max(0.0), burst, tokens: burst, last: now }
    }

    /// Takes one token; false when the bucket is empty (the event exceeds the limit).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full at `now`: it then holds nothing a new one would not.
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.tokens + elapsed.as_secs_f64() * self.rate >= self.burst
    }

    /// Time until one token is available (zero when one is).
    pub fn wait_time(&self) -> Duration {
        if self.tokens >= 1.0 || self.rate <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

/// The map never sweeps below this many addresses: a sweep then costs nothing worth saving.
const SWEEP_FLOOR: usize = 1024;

/// A token bucket per address. An address whose bucket is full again is forgotten (a fresh
/// bucket is the same), so the map holds only the addresses heard from within the time a
/// bucket takes to refill, plus at most as many again between sweeps: a sweep runs when the
/// map has doubled since the last one, so its cost is spread over the insertions that grew it.
#[derive(Debug, Default)]
pub struct PerAddressRate {
    buckets: HashMap<IpAddr, TokenBucket>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

impl PerAddressRate {
    /// Takes one of `key`'s tokens (`rate` a second, `burst` back to back); false when none is
    /// left.
    pub fn try_take(&mut self, key: IpAddr, rate: u32, burst: u32, now: Instant) -> bool {
        self.try_take_at(key, f64::from(rate), burst, now)
    }

    /// [`PerAddressRate::try_take`] at a rate that may be a fraction of one a second.
    pub fn try_take_at(&mut self, key: IpAddr, rate: f64, burst: u32, now: Instant) -> bool {
        if self.buckets.len() >= self.sweep_at.max(SWEEP_FLOOR) {
            self.buckets.retain(|_, bucket| !bucket.is_full_at(now));
            self.sweep_at = self.buckets.len() * 2;
        }
        let bucket =
            self.buckets.entry(key).or_insert_with(|| TokenBucket::with_rate(rate, burst, now));
        bucket.try_take(now)
    }

    /// Whether `key` has a token left at `now`, without taking it (an address not heard from
    /// has a full bucket).
    pub fn has_token(&self, key: IpAddr, now: Instant) -> bool {
        self.buckets.get(&key).is_none_or(|bucket| bucket.clone().try_take(now))
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_bucket() {
        let t0 = Instant::now();
        let mut rates = PerAddressRate::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!((0..3).all(|_| rates.try_take(a, 3, 3, t0)));
        assert!(!rates.try_take(a, 3, 3, t0), "a's burst is spent");
        assert!(rates.try_take(b, 3, 3, t0), "b is not held to a's");
        assert!(rates.try_take(a, 3, 3, t0 + Duration::from_millis(400)), "a refills");
    }

    /// Addresses whose buckets refilled are forgotten, so a stream of new addresses (one
    /// connection each, as from a botnet or a scan) does not grow the map without bound.
    #[test]
    fn refilled_addresses_are_forgotten() {
        let t0 = Instant::now();
        let mut rates = PerAddressRate::default();
        let mut largest = 0;
        for second in 0..20u32 {
            let now = t0 + Duration::from_secs(u64::from(second));
            for i in 0..1000u32 {
                let address = IpAddr::from((second * 1000 + i).to_be_bytes());
                assert!(rates.try_take(address, 10, 10, now));
                largest = largest.max(rates.len());
            }
        }
        // 1,000 new addresses a second, each full again within the second: at most the last
        // second's and the one before, and twice that between sweeps.
        assert!(largest <= 4 * 1000, "the map grew to {largest}");
        // A spent bucket is kept until it refills: forgetting it would hand out a new burst.
        let spent: IpAddr = "192.0.2.1".parse().unwrap();
        let later = t0 + Duration::from_secs(100);
        while rates.try_take(spent, 1, 2, later) {}
        for i in 0..5000u32 {
            rates.try_take(IpAddr::from((i + 1_000_000).to_be_bytes()), 1, 2, later);
        }
        assert!(!rates.try_take(spent, 1, 2, later), "a sweep gave a spent address a new burst");
    }

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2, 5, t0);
        assert!((0..5).all(|_| bucket.try_take(t0)));
        assert!(!bucket.try_take(t0));
        assert!(bucket.wait_time() > Duration::ZERO);
        assert!(bucket.try_take(t0 + Duration::from_millis(500)));
        assert!(!bucket.try_take(t0 + Duration::from_millis(600)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert!((0..5).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }
}
