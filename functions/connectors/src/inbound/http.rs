//! The endpoint's own request and response values, and their translation from and to the
//! Lambda Function URL event (payload format 2.0), so the routing and the vendors' logic never
//! see Lambda types.

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

/// Larger bodies are refused with 413 before anything reads them. Alertmanager groups and
/// Grafana notifications are the largest payloads we accept; a few hundred alerts fit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One HTTP request as the router sees it: header names are lower case, the body is raw bytes
/// (signatures are computed over exactly these bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The address the request came from, as the Function URL saw the connection (not a
    /// header a sender could write); the key of the per-source rate limit.
    pub source_ip: Option<String>,
}

/// Why a Function URL event could not become a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is marked base64-encoded but does not decode")]
    BadBase64,
}

impl HttpRequest {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            ..Self::default()
        }
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_string());
        self
    }

    pub fn with_source_ip(mut self, source_ip: &str) -> Self {
        self.source_ip = Some(source_ip.to_string());
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A header's value; names are matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The first value of a field of an `application/x-www-form-urlencoded` body.
    pub fn form_field(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(&self.body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// Translates a Function URL event; a base64 body (binary or form posts) is decoded.
    pub fn from_function_url(event: LambdaFunctionUrlRequest) -> Result<Self, RequestError> {
        let method = event
            .request_context
            .http
            .method
            .clone()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let path = event
            .raw_path
            .clone()
            .or_else(|| event.request_context.http.path.clone())
            .unwrap_or_else(|| "/".to_string());
        let body = match event.body {
            None => Vec::new(),
            Some(text) if event.is_base64_encoded => STANDARD
                .decode(text.trim())
                .map_err(|_| RequestError::BadBase64)?,
            Some(text) => text.into_bytes(),
        };
        Ok(Self {
            method,
            path,
            query: event.raw_query_string.unwrap_or_default(),
            headers: lower_case_headers(&event.headers),
            body,
            source_ip: event.request_context.http.source_ip.clone(),
        })
    }
}

/// Joins repeated headers with `,` the way HTTP allows, under lower-case names.
fn lower_case_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        joined
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    joined
}

/// One HTTP response. Bodies are text (JSON or HTML) and never carry a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: body.to_string(),
        }
    }

    /// An HTML page. Approval pages carry a token in their URL, so they are never cached, never
    /// framed, and never leak it through a Referer header; they run no script.
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
                ("referrer-policy".into(), "no-referrer".into()),
                ("x-frame-options".into(), "DENY".into()),
                (
                    "content-security-policy".into(),
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'".into(),
                ),
            ],
            body,
        }
    }

    /// A short JSON error `{"error": …, "message": …}`.
    pub fn error(status: u16, error: &str, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": error, "message": message }),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn into_function_url(self) -> LambdaFunctionUrlResponse {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                aws_lambda_events::http::HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let mut response = LambdaFunctionUrlResponse::default();
        response.status_code = i64::from(self.status);
        response.headers = headers;
        response.body = Some(self.body);
        response.is_base64_encoded = false;
        response
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(body: &str, base64: bool) -> LambdaFunctionUrlRequest {
        serde_json::from_value(json!({
            "version": "2.0",
            "rawPath": "/slack/interactions",
            "rawQueryString": "t=abc%2Bdef&x=1",
            "headers": {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": "v0=00"},
            "requestContext": {
                "accountId": "123456789012",
                "http": {"method": "post", "path": "/slack/interactions", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Slackbot"},
                "timeEpoch": 1_700_000_000_000_i64
            },
            "body": body,
            "isBase64Encoded": base64
        }))
        .unwrap()
    }

    #[test]
    fn a_base64_body_is_decoded_and_headers_are_lower_case() {
        let encoded = STANDARD.encode("payload=%7B%7D");
        let request = HttpRequest::from_function_url(event(&encoded, true)).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/slack/interactions");
        assert_eq!(request.body, b"payload=%7B%7D");
        assert_eq!(request.form_field("payload").as_deref(), Some("{}"));
        assert_eq!(request.header("x-slack-signature"), Some("v0=00"));
        assert_eq!(request.header("X-SLACK-SIGNATURE"), Some("v0=00"));
        assert_eq!(request.query_param("t").as_deref(), Some("abc+def"));
    }

    #[test]
    fn a_plain_body_is_kept_byte_for_byte_and_bad_base64_is_refused() {
        let request = HttpRequest::from_function_url(event("{\"a\": 1}", false)).unwrap();
        assert_eq!(request.body, b"{\"a\": 1}");
        assert_eq!(
            HttpRequest::from_function_url(event("***", true)),
            Err(RequestError::BadBase64)
        );
    }

    #[test]
    fn a_response_becomes_a_function_url_response() {
        let response = HttpResponse::json(202, &json!({"accepted": 2})).into_function_url();
        assert_eq!(response.status_code, 202);
        assert_eq!(response.body.as_deref(), Some("{\"accepted\":2}"));
        assert_eq!(
            response.headers.get("content-type").unwrap(),
            "application/json"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
