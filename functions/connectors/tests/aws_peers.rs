//! The AWS side of the connectors over the wire, against moto and DynamoDB Local started by
//! `bash tests/peers.sh`: SNS publishing, post-mortems in S3, the secrets loader (Secrets
//! Manager and Parameter Store), and an approval request end to end on the real incidents table.
//! Without a peer each test says it skipped; with `CI=true` it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::testing::peer_sdk_config as sdk_config;

mod support;

use connectors::delivery::DeliveryError;
use connectors::outbound::aws::{Archive, S3Archive, SnsTopic, Topic, TopicMessage};
use connectors::secrets::{self, SecretSource, SecretsError, names};

use argus::testing::{DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer};

fn moto(test: &str) -> Option<String> {
    peer(MOTO_ENDPOINT_ENV, test)
}

fn unique(prefix: &str) -> String {
    argus::testing::unique(prefix).replace([':', '_'], "-")
}

#[tokio::test]
async fn sns_publishes_with_a_clean_subject_and_attributes() {
    let Some(endpoint) = moto("sns_publishes_with_a_clean_subject_and_attributes") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let client = aws_sdk_sns::Client::new(&aws);
    let topic_arn = client
        .create_topic()
        .name(unique("argus-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let topic = SnsTopic::new(client.clone(), topic_arn.clone());
    let message = TopicMessage {
        subject: format!("[Argus SEV7] {}\nsecond line", "x".repeat(120)),
        body: "What: the instance fails its status check".into(),
        attributes: vec![
            ("kind".into(), "approval".into()),
            ("approver".into(), "alice@example.com".into()),
        ],
    };
    let message_id = topic.publish(&message).await.unwrap();
    assert!(!message_id.is_empty());

    let missing = SnsTopic::new(client, topic_arn.replace("argus-alerts", "no-such-topic"));
    let error = missing.publish(&message).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Refused { .. }), "{error:?}");
    assert_eq!(error.error_type(), "ChannelRefused");
}

#[tokio::test]
async fn s3_stores_the_postmortem_under_its_key() {
    let Some(endpoint) = moto("s3_stores_the_postmortem_under_its_key") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let config = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = unique("argus-postmortems").to_lowercase();
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let archive = S3Archive::new(client.clone(), bucket.clone());
    let key = "postmortems/2026/11/22/20261122T060000Z-x-0123456789ab.md";
    let address = archive
        .put(key, "# Post-mortem\n", "text/markdown; charset=utf-8")
        .await
        .unwrap();
    assert_eq!(address, format!("s3://{bucket}/{key}"));
    let object = client
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("text/markdown; charset=utf-8"));
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"# Post-mortem\n");

    let missing = S3Archive::new(client, format!("{bucket}-missing"));
    assert!(missing.put(key, "x", "text/markdown").await.is_err());
}

#[tokio::test]
async fn secrets_load_from_one_secrets_manager_secret() {
    let Some(endpoint) = moto("secrets_load_from_one_secrets_manager_secret") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    let secret_id = unique("argus/connectors");
    let value = serde_json::json!({
        names::SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/abc",
        names::PAGERDUTY_ROUTING_KEY: "R0UT1NGKEY",
        names::JIRA_EMAIL: "",
        names::GITHUB_TOKEN: null,
    });
    client
        .create_secret()
        .name(&secret_id)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    let loaded = secrets::load(
        &SecretSource::SecretsManager {
            secret_id: secret_id.clone(),
        },
        &aws,
    )
    .await
    .unwrap();
    assert_eq!(
        loaded.get(names::SLACK_WEBHOOK_URL),
        Some("https://hooks.slack.com/services/T0/B0/abc")
    );
    assert_eq!(loaded.get(names::PAGERDUTY_ROUTING_KEY), Some("R0UT1NGKEY"));
    assert_eq!(
        loaded.get(names::JIRA_EMAIL),
        None,
        "empty values mean not configured"
    );
    assert_eq!(loaded.get(names::GITHUB_TOKEN), None);
    assert!(!format!("{loaded:?}").contains("R0UT1NGKEY"));

    // A secret that is not a JSON object, and one that does not exist: errors without values.
    let malformed_id = unique("argus/malformed");
    client
        .create_secret()
        .name(&malformed_id)
        .secret_string("R0UT1NGKEY-in-plain-text")
        .send()
        .await
        .unwrap();
    let error = secrets::load(
        &SecretSource::SecretsManager {
            secret_id: malformed_id,
        },
        &aws,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, SecretsError::Malformed { .. }));
    assert!(!error.to_string().contains("R0UT1NGKEY"));
    let error = secrets::load(
        &SecretSource::SecretsManager {
            secret_id: unique("argus/missing"),
        },
        &aws,
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type(), "SecretsUnavailable");
}

#[tokio::test]
async fn secrets_load_from_securestring_parameters_under_a_path() {
    let Some(endpoint) = moto("secrets_load_from_securestring_parameters_under_a_path") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let client = aws_sdk_ssm::Client::new(&aws);
    let path = format!("/{}", unique("argus-connectors"));
    // More parameters than one page holds (GetParametersByPath pages by 10).
    let mut expected = Vec::new();
    for index in 0..12 {
        expected.push((
            format!("custom_{index:02}"),
            format!("value-{index:02}-secret"),
        ));
    }
    expected.push((names::GITHUB_TOKEN.to_string(), "ghp_from_ssm".to_string()));
    for (name, value) in &expected {
        client
            .put_parameter()
            .name(format!("{path}/{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    // Deeper parameters are not read (the path is not recursive).
    client
        .put_parameter()
        .name(format!("{path}/nested/{}", names::JIRA_API_TOKEN))
        .value("nested-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let loaded = secrets::load(&SecretSource::ParameterStore { path: path.clone() }, &aws)
        .await
        .unwrap();
    for (name, value) in &expected {
        assert_eq!(loaded.get(name), Some(value.as_str()), "{name}");
    }
    assert_eq!(loaded.get(names::JIRA_API_TOKEN), None);
    assert_eq!(loaded.names().count(), expected.len());
}

#[tokio::test]
async fn an_approval_request_round_trips_through_the_incidents_table_and_sns() {
    let test = "an_approval_request_round_trips_through_the_incidents_table_and_sns";
    let (Some(dynamodb), Some(moto)) = (peer(DYNAMODB_ENDPOINT_ENV, test), moto(test)) else {
        return;
    };
    use argus::store::dynamodb::{DynamoStore, create_tables};
    use connectors::outbound::channels::{ApprovalLinks, Channels};
    use std::sync::Arc;

    let dynamodb_config = sdk_config(&dynamodb).await;
    let client = aws_sdk_dynamodb::Client::new(&dynamodb_config);
    let incidents = unique("incidents");
    let patterns = unique("patterns");
    create_tables(&client, &incidents, &patterns).await.unwrap();
    let store = Arc::new(DynamoStore::new(client, incidents, patterns));
    let fixture = support::fixture_in(store.clone(), store, argus::decision::Mode::Approval).await;

    let moto_config = sdk_config(&moto).await;
    let sns = aws_sdk_sns::Client::new(&moto_config);
    let topic_arn = sns
        .create_topic()
        .name(unique("argus-incidents"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let mut config = argus::config::Config::default();
    config.approvals.low = vec!["email:alice@example.com".into()];
    let channels = Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com".into(),
            key: connectors::signing::SigningKey::new(b"link-key".to_vec()),
        }),
        ..Channels::default()
    };
    let mut outbound = fixture.outbound(channels, config, support::secrets(&[]));
    outbound.topic = Some(Arc::new(SnsTopic::new(sns, topic_arn)));
    let token = "AQCEAAAAKgAAAAMcanaryDynamoToken";
    let request = serde_json::json!({
        "operation": "request_approval",
        "correlation_id": fixture.id().to_string(),
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:argus-recovery:x",
        "task_token": token,
    });

    let report = outbound.handle(&request).await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(report.delivered[0].channel, "email");
    // The pending approval is in the table, its token kept apart from the document (which
    // every index projects); the audit trail has no token.
    let stored = fixture.current().await;
    let approval = stored.approval.unwrap();
    assert_ne!(approval.task_token.expose(), token);
    assert_eq!(
        fixture
            .store
            .approval_token(fixture.id(), &approval.id)
            .await
            .unwrap()
            .map(|kept| kept.expose().to_string())
            .as_deref(),
        Some(token)
    );
    assert_eq!(approval.requested_by, support::PRINCIPAL);
    let trail = fixture.audit().await;
    assert!(
        !serde_json::to_string(&trail)
            .unwrap()
            .contains("canaryDynamoToken")
    );
    assert_eq!(
        argus::incident::verify_chain(&fixture.current().await, &trail),
        argus::incident::ChainVerdict::Intact {
            records: trail.len() as u64
        }
    );
    // Retried: same approval, one request in the trail, the email not sent twice.
    let retried = outbound.handle(&request).await.unwrap();
    assert_eq!(retried.delivered, report.delivered);
    let requested = support::records_of(
        &fixture.audit().await,
        argus::incident::AuditKind::ApprovalRequested,
    );
    assert_eq!(requested.len(), 1);
}

/// The filter policy Terraform gives an approver's subscription (terraform/notifications.tf
/// `aws_sns_topic_subscription.approver`), and the incidents address's.
fn approver_filter(address: &str) -> String {
    serde_json::json!({ connectors::wiring::APPROVER_ATTRIBUTE: [address] }).to_string()
}

fn no_approver_filter() -> String {
    serde_json::json!({ connectors::wiring::APPROVER_ATTRIBUTE: [{"exists": false}] }).to_string()
}

#[tokio::test]
async fn two_approvers_each_receive_only_their_own_links_through_sns_filter_policies() {
    let test = "two_approvers_each_receive_only_their_own_links_through_sns_filter_policies";
    let Some(endpoint) = moto(test) else {
        return;
    };
    use connectors::outbound::channels::{ApprovalLinks, Channels};
    use std::sync::Arc;
    let aws = sdk_config(&endpoint).await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let topic_arn = sns
        .create_topic()
        .name(unique("argus-incidents"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    // Three subscribers as Terraform makes them (SQS queues stand in for the mailboxes).
    let mut queues = Vec::new();
    for (who, filter) in [
        ("alice", approver_filter("alice@example.com")),
        ("bob", approver_filter("bob@example.com")),
        ("incidents", no_approver_filter()),
    ] {
        let url = sqs
            .create_queue()
            .queue_name(unique(who))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("FilterPolicy", filter)
            .attributes("FilterPolicyScope", "MessageAttributes")
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        queues.push((who, url));
    }
    let fixture = support::fixture(argus::decision::Mode::Approval).await;
    let mut config = argus::config::Config::default();
    config.approvals.low = vec![
        "email:Alice@Example.com".into(),
        "email:bob@example.com".into(),
    ];
    let key = connectors::signing::SigningKey::new(b"link-key".to_vec());
    let channels = Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com".into(),
            key: key.clone(),
        }),
        ..Channels::default()
    };
    let mut outbound = fixture.outbound(channels, config, support::secrets(&[]));
    outbound.topic = Some(Arc::new(SnsTopic::new(sns, topic_arn)));
    let id = fixture.id().to_string();
    outbound
        .handle(&support::operation_payload(
            "request_approval",
            &id,
            serde_json::json!({"task_token": "AQCEAAAAKgAAAAMfilterToken"}),
        ))
        .await
        .unwrap();
    outbound
        .handle(&support::operation_payload(
            "notify",
            &id,
            serde_json::json!({"kind": "advisory"}),
        ))
        .await
        .unwrap();
    let now = argus::ports::Clock::now(&*fixture.clock);
    for (who, url) in &queues {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let bodies: Vec<String> = received
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect();
        let approvers: Vec<String> = bodies
            .iter()
            .flat_map(|body| {
                body.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter_map(|word| {
                word.strip_prefix("https://argus.example.com/approvals?t=")
                    .map(|token| {
                        connectors::signing::verify_link(&key, token, now)
                            .unwrap()
                            .approver
                    })
            })
            .collect();
        match *who {
            "incidents" => {
                assert_eq!(bodies.len(), 1, "{who}: {bodies:?}");
                assert!(
                    approvers.is_empty(),
                    "{who} received links for {approvers:?}"
                );
            }
            address => {
                assert_eq!(bodies.len(), 1, "{who}: {bodies:?}");
                assert_eq!(
                    approvers,
                    vec![format!("email:{address}@example.com"); 2],
                    "{who}"
                );
            }
        }
    }
}
