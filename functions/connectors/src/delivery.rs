//! Outbound HTTP for every vendor channel: one client, a timeout on every call, retries with
//! exponential backoff on 429 and 5xx that honour `Retry-After`, and a circuit breaker per
//! channel whose cool-down is measured with the injected clock.

use argus::backoff::Backoff;
use argus::ports::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use reqwest::Method;

/// One request to a vendor. Header values and the body may carry credentials, so this type
/// has no `Debug` that shows them and no error built from it ever includes them.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub basic_auth: Option<(String, String)>,
    pub json: Option<Value>,
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            basic_auth: None,
            json: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_string(), password.to_string()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A vendor's answer: the status and the body, parsed as JSON when it is JSON (Slack's
/// incoming webhooks answer plain `ok`, which becomes a JSON string).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Value,
}

/// Why a channel did not deliver. Messages name the channel and what happened, never a URL,
/// header or body that was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{channel} is not called: its circuit breaker is open until {until}")]
    CircuitOpen {
        channel: String,
        until: DateTime<Utc>,
    },
    #[error("{channel} did not answer within the timeout ({attempts} attempts)")]
    Timeout { channel: String, attempts: u32 },
    #[error("{channel} could not be reached ({attempts} attempts)")]
    Unreachable { channel: String, attempts: u32 },
    #[error("{channel} is throttling: HTTP 429 after {attempts} attempts")]
    Throttled { channel: String, attempts: u32 },
    #[error("{channel} failed: HTTP {status} after {attempts} attempts: {detail}")]
    ServerError {
        channel: String,
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error("{channel} refused the request: HTTP {status}: {detail}")]
    Refused {
        channel: String,
        status: u16,
        detail: String,
    },
    #[error("{channel} answered in an unexpected way: {detail}")]
    UnexpectedAnswer { channel: String, detail: String },
    #[error("{channel} is not configured: {missing}")]
    NotConfigured { channel: String, missing: String },
}

impl DeliveryError {
    /// Stable names, recorded in the audit trail, the operation's answer and the metric.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::CircuitOpen { .. } => "ChannelCircuitOpen",
            Self::Timeout { .. } => "ChannelTimeout",
            Self::Unreachable { .. } => "ChannelUnreachable",
            Self::Throttled { .. } => "ChannelThrottled",
            Self::ServerError { .. } => "ChannelServerError",
            Self::Refused { .. } => "ChannelRefused",
            Self::UnexpectedAnswer { .. } => "ChannelUnexpectedAnswer",
            Self::NotConfigured { .. } => "ChannelNotConfigured",
        }
    }

    /// Failures that say the vendor is down or overloaded; only these count towards opening the
    /// breaker (a refused payload says nothing about the vendor's health).
    fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Unreachable { .. }
                | Self::Throttled { .. }
                | Self::ServerError { .. }
        )
    }
}

/// Timeouts and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// For each attempt, connection included.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; it doubles for each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this, so one slow vendor
    /// cannot hold the invocation until the Lambda times out.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1` (attempts count from 1) when the vendor said
    /// nothing: `initial_backoff` doubling to `max_backoff`, each wait jittered.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

/// When a channel's breaker opens and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive failed deliveries (after their retries) that open it.
    pub failure_threshold: u32,
    /// How long it stays open before one trial call is let through (half-open).
    pub cool_down: chrono::Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            cool_down: chrono::Duration::seconds(60),
        }
    }
}

/// Waits between attempts. Production sleeps on tokio's timer; tests record the waits and
/// return at once, so retry timing is asserted without sleeping.
#[async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, duration: Duration);
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// What the breaker knows of one channel.
#[derive(Debug, Clone, Default)]
struct BreakerState {
    consecutive_failures: u32,
    /// Set while open; when it has passed, one trial call is let through.
    open_until: Option<DateTime<Utc>>,
    trial_in_flight: bool,
}

/// A breaker's state as tests and logs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerPosition {
    Closed,
    Open,
    HalfOpen,
}

/// The one HTTP client of the function, with the retry policy and the channels' breakers. It
/// lives as long as the Lambda's execution environment, so breakers remember failures across
/// warm invocations.
pub struct Delivery {
    client: reqwest::Client,
    retry: RetryPolicy,
    breaker: BreakerPolicy,
    clock: Arc<dyn Clock>,
    pause: Arc<dyn Pause>,
    breakers: Mutex<HashMap<String, BreakerState>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub fn new(
        retry: RetryPolicy,
        breaker: BreakerPolicy,
        clock: Arc<dyn Clock>,
        pause: Arc<dyn Pause>,
    ) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout)
            .user_agent(concat!("argus-connectors/", env!("CARGO_PKG_VERSION")))
            // Vendors answer directly; following a redirect could send credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| DeliveryError::NotConfigured {
                channel: "http".to_string(),
                missing: "a TLS configuration the HTTP client accepts".to_string(),
            })?;
        Ok(Self {
            client,
            retry,
            breaker,
            clock,
            pause,
            breakers: Mutex::new(HashMap::new()),
        })
    }

    pub fn breaker_position(&self, channel: &str) -> BreakerPosition {
        let breakers = self.lock();
        match breakers.get(channel) {
            Some(state) => match state.open_until {
                None => BreakerPosition::Closed,
                Some(until) if self.clock.now() < until => BreakerPosition::Open,
                Some(_) => BreakerPosition::HalfOpen,
            },
            None => BreakerPosition::Closed,
        }
    }

    /// Sends `request` for `channel`: retried on 429, 5xx, timeouts and refused connections,
    /// with the breaker consulted first and told the result after.
    pub async fn send(
        &self,
        channel: &str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, DeliveryError> {
        self.admit(channel)?;
        let result = self.send_with_retries(channel, request).await;
        self.record(channel, result.as_ref().err());
        result
    }

    fn admit(&self, channel: &str) -> Result<(), DeliveryError> {
        let now = self.clock.now();
        let mut breakers = self.lock();
        let state = breakers.entry(channel.to_string()).or_default();
        match state.open_until {
            None => Ok(()),
            Some(until) if now < until || state.trial_in_flight => {
                Err(DeliveryError::CircuitOpen {
                    channel: channel.to_string(),
                    until,
                })
            }
            Some(_) => {
                // Half-open: this call is the one trial; others wait for its result.
                state.trial_in_flight = true;
                Ok(())
            }
        }
    }

    fn record(&self, channel: &str, failure: Option<&DeliveryError>) {
        let now = self.clock.now();
        let mut breakers = self.lock();
        let state = breakers.entry(channel.to_string()).or_default();
        let was_trial = state.trial_in_flight;
        state.trial_in_flight = false;
        match failure {
            None => *state = BreakerState::default(),
            Some(error) if error.is_outage() => {
                state.consecutive_failures += 1;
                if was_trial || state.consecutive_failures >= self.breaker.failure_threshold {
                    state.open_until = Some(now + self.breaker.cool_down);
                    tracing::warn!(
                        channel,
                        failures = state.consecutive_failures,
                        "circuit breaker opened"
                    );
                }
            }
            // The vendor answered: it is up, whatever it thought of the request.
            Some(_) => {
                if was_trial {
                    *state = BreakerState::default();
                }
            }
        }
    }

    async fn send_with_retries(
        &self,
        channel: &str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, DeliveryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts.max(1);
            match self.send_once(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(HttpResponse {
                            status,
                            body: read_body(response).await,
                        });
                    }
                    let retry_after = retry_after(response.headers(), self.clock.now());
                    let transient = status == 429 || status >= 500;
                    if transient && !last {
                        let wait = retry_after
                            .map(|wait| wait.min(self.retry.max_retry_after))
                            .unwrap_or_else(|| self.retry.backoff().wait(attempt));
                        tracing::info!(
                            channel,
                            status,
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        self.pause.pause(wait).await;
                        continue;
                    }
                    let detail = vendor_detail(&read_body(response).await);
                    return Err(match status {
                        429 => DeliveryError::Throttled {
                            channel: channel.to_string(),
                            attempts: attempt,
                        },
                        500.. => DeliveryError::ServerError {
                            channel: channel.to_string(),
                            status,
                            attempts: attempt,
                            detail,
                        },
                        _ => DeliveryError::Refused {
                            channel: channel.to_string(),
                            status,
                            detail,
                        },
                    });
                }
                Err(error) => {
                    if !last {
                        let wait = self.retry.backoff().wait(attempt);
                        tracing::info!(
                            channel,
                            attempt,
                            timeout = error.is_timeout(),
                            "retrying after a transport error"
                        );
                        self.pause.pause(wait).await;
                        continue;
                    }
                    // reqwest's own message names the URL, which may be a secret (webhooks):
                    // only the kind of failure is kept.
                    return Err(if error.is_timeout() {
                        DeliveryError::Timeout {
                            channel: channel.to_string(),
                            attempts: attempt,
                        }
                    } else {
                        DeliveryError::Unreachable {
                            channel: channel.to_string(),
                            attempts: attempt,
                        }
                    });
                }
            }
        }
    }

    async fn send_once(&self, request: &HttpRequest) -> Result<reqwest::Response, reqwest::Error> {
        let mut builder = self.client.request(request.method.clone(), &request.url);
        if !request.headers.iter().any(|(name, _)| *name == "accept") {
            builder = builder.header("accept", "application/json");
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some((user, password)) = &request.basic_auth {
            builder = builder.basic_auth(user, Some(password));
        }
        if let Some(body) = &request.json {
            builder = builder.json(body);
        }
        builder.send().await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BreakerState>> {
        // A panic while holding the lock cannot leave a breaker half-updated in a harmful way:
        // the worst case is one more or one fewer trial call.
        self.breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn read_body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The vendor's own words about a failure, short: its error message field when it has one.
fn vendor_detail(body: &Value) -> String {
    let text = [
        "/error/message",
        "/error",
        "/message",
        "/errorMessages/0",
        "/errors/0/message",
        "/message/0",
    ]
    .iter()
    .find_map(|pointer| body.pointer(pointer).and_then(Value::as_str))
    .map(str::to_string)
    .unwrap_or_else(|| match body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    argus::signal::cap_text(text.trim(), 200)
}

/// `Retry-After` as a wait: delta-seconds, or an HTTP date measured against `now`.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 8, 0, 0).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date((now + chrono::Duration::seconds(30)).into());
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff().ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.backoff().ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.backoff().ceiling(3), Duration::from_millis(350));
    }

    #[test]
    fn vendor_details_are_short_and_prefer_the_error_message() {
        let body = serde_json::json!({"error": {"message": "Bad credentials"}});
        assert_eq!(vendor_detail(&body), "Bad credentials");
        let long = Value::String("x".repeat(500));
        assert!(vendor_detail(&long).len() <= 200);
    }
}
