//! The per-source rate limit of the public endpoint: a token bucket per source address, checked
//! before anything else is read, so a flood from one address is answered 429 at the cost of a
//! map lookup, never reaches authentication or the store, and leaves other senders their budget.
//!
//! The buckets live in the execution environment (each concurrent instance has its own), so the
//! limit bounds what one address costs each instance; a distributed flood is for AWS WAF in front
//! of the endpoint (README, "Security model"). Time comes from the `Clock`.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Requests one source may send at once.
pub const BURST: f64 = 60.0;
/// Requests per second a source's budget refills by (60 a minute).
pub const PER_SECOND: f64 = 1.0;
/// Sources remembered at most; past it, idle (full) buckets are forgotten, and if every one is
/// busy, new sources share one bucket, so memory stays bounded whatever the number of addresses.
pub const MAX_SOURCES: usize = 10_000;
/// The bucket of requests that name no source, and of new sources once `MAX_SOURCES` are busy.
const SHARED: &str = "*";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn refilled(self, now: DateTime<Utc>) -> Self {
        let seconds = (now - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        Self {
            tokens: (self.tokens + seconds * PER_SECOND).min(BURST),
            at: now,
        }
    }
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from `source`'s budget: `Ok` to serve it, or `Err(seconds)` until the
    /// next request would be served.
    pub fn admit(&self, source: Option<&str>, now: DateTime<Utc>) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut key = source.unwrap_or(SHARED).to_string();
        if !buckets.contains_key(&key) && buckets.len() >= MAX_SOURCES {
            buckets.retain(|_, bucket| bucket.refilled(now).tokens < BURST);
            if buckets.len() >= MAX_SOURCES {
                key = SHARED.to_string();
            }
        }
        let bucket = buckets.get(&key).copied().map_or(
            Bucket {
                tokens: BURST,
                at: now,
            },
            |bucket| bucket.refilled(now),
        );
        if bucket.tokens >= 1.0 {
            buckets.insert(
                key,
                Bucket {
                    tokens: bucket.tokens - 1.0,
                    ..bucket
                },
            );
            Ok(())
        } else {
            buckets.insert(key, bucket);
            Err(((1.0 - bucket.tokens) / PER_SECOND).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_sources_share_one_bucket_once_the_map_is_full() {
        let limiter = RateLimiter::default();
        let now = Utc::now();
        for n in 0..MAX_SOURCES {
            // Each source spends a token, so none of their buckets is idle.
            limiter
                .admit(Some(&format!("10.0.{}.{}", n / 256, n % 256)), now)
                .unwrap();
        }
        let mut refused = 0;
        for n in 0..(BURST as usize + 10) {
            if limiter.admit(Some(&format!("new-{n}")), now).is_err() {
                refused += 1;
            }
        }
        assert!(refused >= 10, "{refused}");
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_SOURCES + 1);
    }
}
