//! The two AWS channels behind narrow ports: an SNS topic (email and whatever else subscribes)
//! and an S3 bucket for post-mortems. The adapters keep the SDK's details here; tests of the
//! operations use the in-memory ports, the adapters themselves are tested against moto.

use crate::delivery::DeliveryError;
use async_trait::async_trait;
use std::sync::Mutex;

/// IAM actions of the calls in this module.
pub const API_CALLS: &[&str] = &["s3:PutObject", "sns:Publish"];

/// SNS refuses subjects longer than this, and any with line breaks or control characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// One message for the topic's subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMessage {
    pub subject: String,
    pub body: String,
    /// SNS message attributes (string), which subscription filter policies can select on.
    pub attributes: Vec<(String, String)>,
}

#[async_trait]
pub trait Topic: Send + Sync {
    /// Publishes and returns the message id.
    async fn publish(&self, message: &TopicMessage) -> Result<String, DeliveryError>;
}

#[async_trait]
pub trait Archive: Send + Sync {
    /// Stores `body` under `key` and returns its `s3://bucket/key` address.
    async fn put(&self, key: &str, body: &str, content_type: &str)
    -> Result<String, DeliveryError>;
}

/// An email subject SNS accepts: one line of printable text, at most 100 characters.
pub fn email_subject(text: &str) -> String {
    let single_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = single_line.trim();
    if trimmed.chars().count() <= MAX_SUBJECT_CHARS {
        return trimmed.to_string();
    }
    let cut: String = trimmed.chars().take(MAX_SUBJECT_CHARS - 3).collect();
    format!("{cut}...")
}

#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Topic for SnsTopic {
    async fn publish(&self, message: &TopicMessage) -> Result<String, DeliveryError> {
        use aws_sdk_sns::error::ProvideErrorMetadata;
        use aws_sdk_sns::types::MessageAttributeValue;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(email_subject(&message.subject))
            .message(&message.body);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|error| DeliveryError::UnexpectedAnswer {
                    channel: "sns".to_string(),
                    detail: error.to_string(),
                })?;
            request = request.message_attributes(name, attribute);
        }
        let answer = request.send().await.map_err(|error| {
            let code = error.code().unwrap_or("the request failed").to_string();
            match code.as_str() {
                "Throttling" | "ThrottledException" | "ThrottlingException" => {
                    DeliveryError::Throttled {
                        channel: "sns".to_string(),
                        attempts: 1,
                    }
                }
                _ => DeliveryError::Refused {
                    channel: "sns".to_string(),
                    status: error.raw_response().map_or(0, |raw| raw.status().as_u16()),
                    detail: code,
                },
            }
        })?;
        Ok(answer.message_id().unwrap_or_default().to_string())
    }
}

#[derive(Debug, Clone)]
pub struct S3Archive {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Archive {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl Archive for S3Archive {
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<String, DeliveryError> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(
                body.as_bytes().to_vec(),
            ))
            .send()
            .await
            .map_err(|error| DeliveryError::Refused {
                channel: "s3".to_string(),
                status: error.raw_response().map_or(0, |raw| raw.status().as_u16()),
                detail: error.code().unwrap_or("the request failed").to_string(),
            })?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

/// Topic and archive in memory, for tests of the operations and for local runs.
#[derive(Debug, Default)]
pub struct MemoryTopic {
    pub published: Mutex<Vec<TopicMessage>>,
}

#[async_trait]
impl Topic for MemoryTopic {
    async fn publish(&self, message: &TopicMessage) -> Result<String, DeliveryError> {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        published.push(message.clone());
        Ok(format!("memory-{}", published.len()))
    }
}

#[derive(Debug, Default)]
pub struct MemoryArchive {
    pub objects: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Archive for MemoryArchive {
    async fn put(
        &self,
        key: &str,
        body: &str,
        _content_type: &str,
    ) -> Result<String, DeliveryError> {
        let mut objects = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        objects.retain(|(existing, _)| existing != key);
        objects.push((key.to_string(), body.to_string()));
        Ok(format!("s3://memory/{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_line_of_at_most_100_characters() {
        assert_eq!(email_subject("a\nb"), "a b");
        let long = "x".repeat(150);
        let subject = email_subject(&long);
        assert_eq!(subject.chars().count(), 100);
        assert!(subject.ends_with("..."));
    }
}
