//! The tag read before an action, on the wire: the Resource Groups Tagging API adapter
//! (GetResources with a `ResourceARNList`) against moto's, with EC2 instances created and
//! tagged in moto; a throttled answer from a loopback peer; and the intake deciding on alarms
//! about those instances with the adapter in place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::tagging::TaggingApiTags;
use argus::config::Config;
use argus::decision::Mode;
use argus::intake::Intake;
use argus::resource::ResourceRef;
use argus::store::embedded::EmbeddedStore;
use argus::tags::{ResourceTags, TagLookup, TagsError};
use argus_integration_tests::http_peer::{Action, HttpPeer, aws_json_error};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{MOTO_ENDPOINT_ENV, peer, sdk_config};
use aws_config::retry::RetryConfig;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

async fn tagging(endpoint: &str) -> TaggingApiTags {
    let sdk = sdk_config(endpoint).await;
    let config = aws_sdk_resourcegroupstagging::config::Builder::from(&sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    TaggingApiTags::new(aws_sdk_resourcegroupstagging::Client::from_conf(config))
}

/// Runs one EC2 instance in moto with `tags` (EC2's Query protocol; the tests link no EC2 SDK)
/// and answers its id.
async fn run_instance(endpoint: &str, tags: &[(&str, &str)]) -> String {
    let mut form = String::from(
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-12c6146b&MinCount=1&MaxCount=1",
    );
    if !tags.is_empty() {
        form.push_str("&TagSpecification.1.ResourceType=instance");
        for (index, (key, value)) in tags.iter().enumerate() {
            let encode = |text: &str| text.replace(':', "%3A").replace(' ', "%20");
            form.push_str(&format!(
                "&TagSpecification.1.Tag.{n}.Key={}&TagSpecification.1.Tag.{n}.Value={}",
                encode(key),
                encode(value),
                n = index + 1
            ));
        }
    }
    let address = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20261122/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let start = answer
        .find("<instanceId>")
        .unwrap_or_else(|| panic!("RunInstances failed: {answer}"))
        + "<instanceId>".len();
    let end = start + answer[start..].find("</instanceId>").unwrap();
    answer[start..end].to_string()
}

fn lookup(instance: &str) -> TagLookup {
    let resource = ResourceRef::checked("ec2", "instance", instance).unwrap();
    TagLookup::of(&resource, ACCOUNT, REGION).unwrap()
}

#[tokio::test]
async fn tags_of_instances_are_read_in_one_get_resources() {
    let Some(moto) = peer(
        MOTO_ENDPOINT_ENV,
        "tags_of_instances_are_read_in_one_get_resources",
    ) else {
        return;
    };
    let managed = run_instance(&moto, &[("argus:managed", "true"), ("team", "web")]).await;
    let quarantined = run_instance(
        &moto,
        &[("argus:managed", "true"), ("argus:quarantine", "case 17")],
    )
    .await;
    let untagged = run_instance(&moto, &[]).await;
    // Counted on the way: one request answers all three.
    let counter = HttpPeer::start(Some(&moto), |_, _| Action::Forward);
    let tags = tagging(&counter.endpoint).await;
    let lookups = [lookup(&managed), lookup(&quarantined), lookup(&untagged)];
    let found = tags.tags(&lookups).await.unwrap();
    assert_eq!(counter.requests().len(), 1, "one GetResources");
    let request = &counter.requests()[0];
    assert_eq!(
        request.header("x-amz-target"),
        Some("ResourceGroupsTaggingAPI_20170126.GetResources")
    );
    assert_eq!(
        request.json()["ResourceARNList"].as_array().unwrap().len(),
        3
    );
    let of = |lookup: &TagLookup| found.get(&lookup.resource);
    assert_eq!(
        of(&lookups[0]).and_then(|tags| tags.get("argus:managed")),
        Some(&"true".to_string())
    );
    assert_eq!(
        of(&lookups[1]).and_then(|tags| tags.get("argus:quarantine")),
        Some(&"case 17".to_string())
    );
    assert!(
        of(&lookups[2]).is_none(),
        "an untagged instance has no tags: {found:?}"
    );
    let policy = Config::default().tags;
    assert_eq!(
        policy.judge(of(&lookups[0])),
        argus::tags::TagVerdict::Managed
    );
    assert!(matches!(
        policy.judge(of(&lookups[1])),
        argus::tags::TagVerdict::Quarantined { .. }
    ));
}

#[tokio::test]
async fn a_throttled_get_resources_is_a_throttled_read() {
    let peer = HttpPeer::start(None, |_, _| {
        aws_json_error(
            400,
            "application/x-amz-json-1.1",
            "ThrottledException",
            "Rate exceeded",
        )
    });
    let tags = tagging(&peer.endpoint).await;
    let error = tags
        .tags(&[lookup("i-0123456789abcdef0")])
        .await
        .unwrap_err();
    assert!(matches!(error, TagsError::Throttled(_)), "{error:?}");
}

/// The intake with the tagging adapter against moto, on a CPU alarm about `instance`, under a
/// policy where a confident low-risk action runs on its own.
async fn decide_on_alarm(moto: &str, instance: &str) -> argus::decision::Decision {
    let config = Config::from_json(
        &json!({"decision": {"auto_confidence": 0.5, "approval_confidence": 0.5, "verified_successes_for_auto": 0}}).to_string(),
    )
    .unwrap();
    let store = EmbeddedStore::in_memory().unwrap();
    let workflow = RecordingWorkflow::default();
    let clock = argus::clock::ManualClock::new(argus::testing::epoch());
    let tags = tagging(moto).await;
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: &argus::analysis::RulesAnalyst,
        workflow: &workflow,
        clock: &clock,
        config: &config,
        investigator: None,
        resource_tags: Some(&tags),
    };
    let mut event: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"
    ))
    .unwrap();
    event["id"] = json!(argus::testing::unique("tags-alarm"));
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        json!(instance);
    let report = intake.process_event(&event).await.unwrap();
    report.signals[0].decision.clone().unwrap()
}

#[tokio::test]
async fn an_alarm_naming_an_untagged_moto_instance_proposes_nothing() {
    let Some(moto) = peer(
        MOTO_ENDPOINT_ENV,
        "an_alarm_naming_an_untagged_moto_instance_proposes_nothing",
    ) else {
        return;
    };
    let untagged = run_instance(&moto, &[("team", "web")]).await;
    let decision = decide_on_alarm(&moto, &untagged).await;
    assert_eq!(decision.mode, Mode::Advisory, "{decision:?}");
    assert!(decision.action.is_none());
    let managed = run_instance(&moto, &[("argus:managed", "true")]).await;
    let decision = decide_on_alarm(&moto, &managed).await;
    assert_eq!(decision.mode, Mode::Auto, "{decision:?}");
}

#[tokio::test]
async fn a_quarantined_moto_instance_is_never_rebooted() {
    let Some(moto) = peer(
        MOTO_ENDPOINT_ENV,
        "a_quarantined_moto_instance_is_never_rebooted",
    ) else {
        return;
    };
    let instance = run_instance(&moto, &[("argus:managed", "true"), ("Quarantine", "yes")]).await;
    let decision = decide_on_alarm(&moto, &instance).await;
    assert!(decision.action.is_none(), "{decision:?}");
    assert!(
        decision
            .reasons
            .join(" ")
            .contains("quarantine tag `Quarantine`")
    );
}
