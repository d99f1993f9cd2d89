//! Per-tenant ingest rates, so that one noisy tenant cannot take the write pipeline from the
//! others: each tenant has a token bucket of spans (and log records) a second and one of request
//! bytes a second, refilled continuously, holding at most one second's worth. A request is let
//! in while both buckets are above zero and then pays its full cost (a bucket may go below zero,
//! so a request larger than a second's worth still passes once, and the tenant waits it off);
//! otherwise it is refused retryably, told how long until its buckets are above zero again (429
//! with `Retry-After`, `RESOURCE_EXHAUSTED` with `RetryInfo`), before its body is decoded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tenant's ingest rates; 0: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TenantRate {
    /// Spans and log records a second.
    pub items_per_second: f64,
    /// Request bytes (as sent) a second.
    pub bytes_per_second: f64,
}

/// Per-tenant buckets: a default rate, and rates of named tenants.
#[derive(Debug, Clone, Default)]
pub struct TenantLimits {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    default: TenantRate,
    tenants: HashMap<String, TenantRate>,
    buckets: Mutex<HashMap<Arc<str>, Buckets>>,
}

#[derive(Debug)]
struct Buckets {
    items: f64,
    bytes: f64,
    at: Instant,
}

/// Why a request was refused: which rate, and how long until the tenant may send again.
#[derive(Debug, Clone, PartialEq)]
pub struct OverRate {
    pub message: String,
    pub retry_after: Duration,
}

impl TenantLimits {
    pub fn new(default: TenantRate, tenants: HashMap<String, TenantRate>) -> TenantLimits {
        TenantLimits { inner: Arc::new(Inner { default, tenants, buckets: Mutex::new(HashMap::new()) }) }
    }

    fn rate(&self, tenant: &str) -> TenantRate {
        self.inner.tenants.get(tenant).copied().unwrap_or(self.inner.default)
    }

    /// Bytes first, before the body is read: refused, a request costs nothing more.
    pub fn admit_bytes(&self, tenant: &Arc<str>, bytes: usize) -> Result<(), OverRate> {
        self.admit(tenant, 0, bytes, Instant::now())
    }

    /// Then its items, once decoded.
    pub fn admit_items(&self, tenant: &Arc<str>, items: usize) -> Result<(), OverRate> {
        self.admit(tenant, items, 0, Instant::now())
    }

    fn admit(&self, tenant: &Arc<str>, items: usize, bytes: usize, now: Instant) -> Result<(), OverRate> {
        let rate = self.rate(tenant);
        let items_limited = rate.items_per_second > 0.0 && items > 0;
        let bytes_limited = rate.bytes_per_second > 0.0 && bytes > 0;
        if !items_limited && !bytes_limited {
            return Ok(());
        }
        let mut buckets = self.inner.buckets.lock().expect("tenant buckets lock");
        let bucket = buckets.entry(tenant.clone()).or_insert(Buckets {
            items: rate.items_per_second,
            bytes: rate.bytes_per_second,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.at = now;
        bucket.items = (bucket.items + elapsed * rate.items_per_second).min(rate.items_per_second);
        bucket.bytes = (bucket.bytes + elapsed * rate.bytes_per_second).min(rate.bytes_per_second);
        let wait = |level: f64, per_second: f64| Duration::from_secs_f64((-level / per_second).max(0.0) + 0.001);
        if items_limited && bucket.items <= 0.0 {
            return Err(self.refuse(tenant, "spans", rate.items_per_second, wait(bucket.items, rate.items_per_second)));
        }
        if bytes_limited && bucket.bytes <= 0.0 {
            return Err(self.refuse(tenant, "bytes", rate.bytes_per_second, wait(bucket.bytes, rate.bytes_per_second)));
        }
        if items_limited {
            bucket.items -= items as f64;
        }
        if bytes_limited {
            bucket.bytes -= bytes as f64;
        }
        Ok(())
    }

    fn refuse(&self, tenant: &str, what: &'static str, per_second: f64, retry_after: Duration) -> OverRate {
        metrics::counter!("semtrace_tenant_refused_total", "tenant" => tenant.to_owned(), "reason" => what)
            .increment(1);
        OverRate {
            message: format!(
                "tenant `{tenant}` is over its ingest rate of {per_second} {what} a second (limits.tenants); retry in {:.1} s",
                retry_after.as_secs_f64()
            ),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TenantLimits {
        let mut tenants = HashMap::new();
        tenants.insert("big".to_owned(), TenantRate { items_per_second: 10_000.0, bytes_per_second: 0.0 });
        TenantLimits::new(TenantRate { items_per_second: 100.0, bytes_per_second: 1000.0 }, tenants)
    }

    #[test]
    fn a_tenant_sends_its_rate_then_waits_and_others_are_not_charged() {
        let limits = limits();
        let (noisy, quiet): (Arc<str>, Arc<str>) = ("noisy".into(), "quiet".into());
        let start = Instant::now();
        // Most of a second's worth, then a request past it: the bucket still had tokens, so it
        // is let in and the bucket goes below zero (to -50).
        assert!(limits.admit(&noisy, 60, 0, start).is_ok());
        assert!(limits.admit(&noisy, 90, 0, start).is_ok(), "the bucket still had tokens");
        let refused = limits.admit(&noisy, 1, 0, start).unwrap_err();
        assert!((refused.retry_after.as_secs_f64() - 0.5).abs() < 0.01, "{refused:?}");
        assert!(refused.message.contains("noisy") && refused.message.contains("100 spans"), "{refused:?}");
        // Another tenant has its own buckets.
        assert!(limits.admit(&quiet, 100, 0, start).is_ok());
        // Half a second later the noisy tenant is at zero again; a little more and it is let in.
        assert!(limits.admit(&noisy, 1, 0, start + Duration::from_millis(490)).is_err());
        assert!(limits.admit(&noisy, 1, 0, start + Duration::from_millis(520)).is_ok());
    }

    #[test]
    fn bytes_are_checked_before_items_and_named_tenants_have_their_own_rate() {
        let limits = limits();
        let tenant: Arc<str> = "t".into();
        let now = Instant::now();
        assert!(limits.admit(&tenant, 0, 5000, now).is_ok());
        assert!(limits.admit(&tenant, 0, 1, now).unwrap_err().message.contains("bytes"));
        let big: Arc<str> = "big".into();
        assert!(limits.admit(&big, 9000, 0, now).is_ok());
        assert!(limits.admit(&big, 0, 1 << 30, now).is_ok(), "no byte rate for it");
        let unlimited = TenantLimits::default();
        assert!(unlimited.admit(&tenant, usize::MAX, usize::MAX, now).is_ok());
    }
}
