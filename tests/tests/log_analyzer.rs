//! The log analyzer over the wire: CloudWatch Logs (FilterLogEvents, paginated) and EventBridge
//! (PutEvents, delivered through a rule to an SQS queue) on moto's server, baselines and
//! checkpoints in DynamoDB Local. Events put into a log group are read and their baselines
//! stored; a burst of a new error template is exactly one anomaly on the bus, which the
//! orchestrator's normaliser accepts; an interrupted run never double-counts; ids survive a
//! restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::cloudwatchlogs::CloudWatchLogSource;
use argus::adapters::eventbridge::EventBridgeBus;
use argus::clock::ManualClock;
use argus::config::SignalConfig;
use argus::loganalysis::{
    AnalyzerConfig, AnalyzerTuning, BaselineStore, LogAnalyzer, LogGroupState, LogGroupWrite,
    RunReport, SaveOutcome, StopReason, TemplateRecord,
};
use argus::ports::StoreError;
use argus::signal::{
    LOG_ANOMALY_DETAIL_TYPE, LOG_ANOMALY_SOURCE, LogAnomalyDetail, Normalised, SignalSource,
    normalise,
};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus_integration_tests::{
    DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer, sdk_config, unique_name,
};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

const WINDOW_SECONDS: i64 = 60;

struct Peers {
    logs: aws_sdk_cloudwatchlogs::Client,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    patterns_table: String,
}

async fn peers(test: &str) -> Option<Peers> {
    let moto = peer(MOTO_ENDPOINT_ENV, test)?;
    let dynamodb = peer(DYNAMODB_ENDPOINT_ENV, test)?;
    let moto = sdk_config(&moto).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb).await);
    let patterns_table = unique_name("patterns");
    create_tables(&dynamodb, &unique_name("incidents"), &patterns_table)
        .await
        .unwrap();
    Some(Peers {
        logs: aws_sdk_cloudwatchlogs::Client::new(&moto),
        events: aws_sdk_eventbridge::Client::new(&moto),
        sqs: aws_sdk_sqs::Client::new(&moto),
        dynamodb,
        patterns_table,
    })
}

impl Peers {
    fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), "unused", &self.patterns_table)
    }

    async fn log_group(&self) -> String {
        let name = format!("/aws/lambda/{}", unique_name("checkout"));
        self.logs
            .create_log_group()
            .log_group_name(&name)
            .send()
            .await
            .unwrap();
        self.logs
            .create_log_stream()
            .log_group_name(&name)
            .log_stream_name("2026/11/22/[$LATEST]abc")
            .send()
            .await
            .unwrap();
        name
    }

    /// Puts `lines` stamped inside the window starting at `start`, 10 ms apart.
    async fn put_lines(&self, log_group: &str, start: DateTime<Utc>, lines: &[String]) {
        for chunk in lines.chunks(500).enumerate() {
            let (offset, chunk) = chunk;
            let events = chunk
                .iter()
                .enumerate()
                .map(|(index, line)| {
                    InputLogEvent::builder()
                        .timestamp(
                            start.timestamp_millis() + ((offset * 500 + index) as i64 % 5_000) * 10,
                        )
                        .message(line)
                        .build()
                        .unwrap()
                })
                .collect::<Vec<_>>();
            let mut sorted = events;
            sorted.sort_by_key(|event| event.timestamp);
            self.logs
                .put_log_events()
                .log_group_name(log_group)
                .log_stream_name("2026/11/22/[$LATEST]abc")
                .set_log_events(Some(sorted))
                .send()
                .await
                .unwrap();
        }
    }

    /// A custom event bus with a rule that sends Argus Log Anomaly events to a new SQS queue.
    async fn bus_to_queue(&self) -> (String, String) {
        let bus = unique_name("argus-bus");
        self.events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .unwrap();
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(unique_name("anomalies"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes
            .attributes()
            .unwrap()
            .get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .unwrap()
            .clone();
        let rule = unique_name("log-anomalies");
        self.events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(
                json!({"source": [LOG_ANOMALY_SOURCE], "detail-type": [LOG_ANOMALY_DETAIL_TYPE]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        self.events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        (bus, queue_url)
    }

    /// Every message on the queue (the delivered EventBridge events), read until it is empty.
    async fn drain(&self, queue_url: &str) -> Vec<Value> {
        let mut found = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = received.messages();
            if messages.is_empty() {
                return found;
            }
            for message in messages {
                found.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// Windows a few minutes back from the real time, because CloudWatch Logs (and moto) refuse
/// events far from now; the analyzer's clock is then set window by window.
fn first_window() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(
        now - now.rem_euclid(WINDOW_SECONDS) - 10 * WINDOW_SECONDS,
        0,
    )
    .unwrap()
}

fn window(index: i64) -> DateTime<Utc> {
    first_window() + Duration::seconds(WINDOW_SECONDS * index)
}

fn config(log_group: &str, tuning: AnalyzerTuning) -> AnalyzerConfig {
    let mut config =
        AnalyzerConfig::parse(&format!("{log_group}=lambda:function/checkout"), None).unwrap();
    config.tuning = tuning;
    config
}

fn tuning() -> AnalyzerTuning {
    AnalyzerTuning {
        window_seconds: 60,
        ingestion_lag_seconds: 0,
        page_size: 200,
        ..AnalyzerTuning::default()
    }
}

fn requests(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            format!(
                "INFO request {index} from 10.1.0.{} handled in {}ms",
                index % 250,
                index % 80
            )
        })
        .collect()
}

fn payment_errors(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            format!(
                "ERROR payment provider timeout after 3000ms for order {} token=secret{index}",
                7000 + index
            )
        })
        .collect()
}

/// Runs the analyzer with its clock at the end of window `index`.
async fn run_at(
    index: i64,
    source: &CloudWatchLogSource,
    store: &dyn BaselineStore,
    bus: &EventBridgeBus,
    config: &AnalyzerConfig,
) -> RunReport {
    let clock = ManualClock::new(window(index + 1));
    LogAnalyzer {
        source,
        store,
        bus,
        clock: &clock,
        config,
    }
    .run(None)
    .await
}

fn ok(report: &RunReport) {
    assert!(report.first_error().is_none(), "{report:#?}");
}

async fn live_record(store: &DynamoStore, log_group: &str, needle: &str) -> TemplateRecord {
    store
        .load_log_group(log_group)
        .await
        .unwrap()
        .templates
        .into_iter()
        .find(|record| record.renamed_to.is_none() && record.text.contains(needle))
        .unwrap_or_else(|| panic!("no live template containing {needle}"))
}

#[tokio::test]
async fn events_put_into_a_log_group_are_read_and_their_baselines_stored() {
    let Some(peers) =
        peers("events_put_into_a_log_group_are_read_and_their_baselines_stored").await
    else {
        return;
    };
    let log_group = peers.log_group().await;
    // 450 lines in window 0, read 200 per FilterLogEvents page, and 30 in window 1.
    peers.put_lines(&log_group, window(0), &requests(450)).await;
    peers.put_lines(&log_group, window(1), &requests(30)).await;
    let (bus_name, _) = peers.bus_to_queue().await;
    let source = CloudWatchLogSource::new(peers.logs.clone());
    let bus = EventBridgeBus::new(peers.events.clone(), bus_name);
    let store = peers.store();
    let config = config(&log_group, tuning());

    let first = run_at(0, &source, &store, &bus, &config).await;
    ok(&first);
    assert_eq!(first.groups[0].events_read, 450, "{first:#?}");
    assert_eq!(first.groups[0].windows_closed, 1);
    let second = run_at(1, &source, &store, &bus, &config).await;
    ok(&second);
    assert_eq!(second.groups[0].events_read, 30);

    let record = live_record(&store, &log_group, "request").await;
    assert_eq!(record.stats.lines_total, 480);
    assert_eq!(record.stats.windows, 2);
    assert!(record.stats.mean > 30.0 && record.stats.mean < 450.0);
    assert!(record.stats.variance > 0.0);
    let checkpoint = store
        .load_log_group(&log_group)
        .await
        .unwrap()
        .checkpoint
        .unwrap();
    assert_eq!(checkpoint.window_start, window(2));
    assert_eq!(checkpoint.windows_closed, 2);
}

#[tokio::test]
async fn a_burst_of_a_new_error_template_is_exactly_one_anomaly_on_the_bus() {
    let Some(peers) =
        peers("a_burst_of_a_new_error_template_is_exactly_one_anomaly_on_the_bus").await
    else {
        return;
    };
    let log_group = peers.log_group().await;
    peers.put_lines(&log_group, window(0), &requests(40)).await;
    let mut burst = requests(40);
    burst.extend(payment_errors(600));
    peers.put_lines(&log_group, window(1), &burst).await;
    peers
        .put_lines(&log_group, window(2), &payment_errors(300))
        .await;
    let (bus_name, queue_url) = peers.bus_to_queue().await;
    let source = CloudWatchLogSource::new(peers.logs.clone());
    let bus = EventBridgeBus::new(peers.events.clone(), bus_name);
    let store = peers.store();
    let config = config(&log_group, tuning());
    for index in 0..3 {
        ok(&run_at(index, &source, &store, &bus, &config).await);
    }

    let delivered = peers.drain(&queue_url).await;
    assert_eq!(delivered.len(), 1, "exactly one anomaly: {delivered:#?}");
    let event = &delivered[0];
    assert_eq!(event["detail-type"], LOG_ANOMALY_DETAIL_TYPE);
    assert_eq!(event["source"], LOG_ANOMALY_SOURCE);
    let detail: LogAnomalyDetail = serde_json::from_value(event["detail"].clone()).unwrap();
    assert_eq!(detail.kind, "new_error_template");
    assert_eq!(detail.count, 600);
    assert_eq!(detail.log_group, log_group);
    assert_eq!(detail.window.start, window(1));
    assert!(
        detail.samples.iter().all(|s| !s.contains("secret")),
        "{:?}",
        detail.samples
    );

    // The event as EventBridge delivered it is a valid orchestrator input.
    let Normalised::Signals(signals) = normalise(event, &SignalConfig::default()).unwrap() else {
        panic!("the delivered anomaly was ignored");
    };
    assert_eq!(signals[0].source, SignalSource::LogAnomaly);
    assert_eq!(
        signals[0].signature,
        format!("log:{log_group}:{}", detail.template_id)
    );
}

/// Stores the template records but "dies" before the checkpoint, once.
struct DiesBeforeCheckpoint {
    inner: DynamoStore,
    armed: AtomicBool,
}

#[async_trait]
impl BaselineStore for DiesBeforeCheckpoint {
    async fn load_log_group(&self, log_group: &str) -> Result<LogGroupState, StoreError> {
        self.inner.load_log_group(log_group).await
    }

    async fn save_log_group(&self, write: LogGroupWrite<'_>) -> Result<SaveOutcome, StoreError> {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return self.inner.save_log_group(write).await;
        }
        self.inner
            .save_log_group(LogGroupWrite {
                checkpoint: None,
                ..write
            })
            .await?;
        Err(StoreError::Unavailable(
            "the invocation ended before the checkpoint".to_string(),
        ))
    }
}

#[tokio::test]
async fn a_run_interrupted_after_reading_but_before_its_checkpoint_does_not_double_count() {
    let Some(peers) = peers("a_run_interrupted_after_reading_but_before_its_checkpoint").await
    else {
        return;
    };
    let log_group = peers.log_group().await;
    peers.put_lines(&log_group, window(0), &requests(120)).await;
    let (bus_name, _) = peers.bus_to_queue().await;
    let source = CloudWatchLogSource::new(peers.logs.clone());
    let bus = EventBridgeBus::new(peers.events.clone(), bus_name);
    let store = DiesBeforeCheckpoint {
        inner: peers.store(),
        armed: AtomicBool::new(true),
    };
    let config = config(&log_group, tuning());

    let interrupted = run_at(0, &source, &store, &bus, &config).await;
    assert_eq!(
        interrupted.first_error().map(|(kind, _)| kind),
        Some("StoreUnavailable")
    );
    let stored = live_record(&store.inner, &log_group, "request").await;
    assert_eq!(stored.stats.lines_total, 120, "the baselines were stored");
    assert!(
        store
            .inner
            .load_log_group(&log_group)
            .await
            .unwrap()
            .checkpoint
            .is_none(),
        "the checkpoint was not"
    );

    let retried = run_at(0, &source, &store, &bus, &config).await;
    ok(&retried);
    assert_eq!(
        retried.groups[0].events_read, 120,
        "the window was read again"
    );
    let record = live_record(&store.inner, &log_group, "request").await;
    assert_eq!(record.stats.lines_total, 120, "and counted once");
    assert_eq!(record.stats.windows, 1);
}

#[tokio::test]
async fn a_burst_over_the_run_budget_resumes_from_its_page_token_and_counts_once() {
    let Some(peers) = peers("a_burst_over_the_run_budget_resumes_from_its_page_token").await else {
        return;
    };
    let log_group = peers.log_group().await;
    peers.put_lines(&log_group, window(0), &requests(900)).await;
    let (bus_name, _) = peers.bus_to_queue().await;
    let source = CloudWatchLogSource::new(peers.logs.clone());
    let bus = EventBridgeBus::new(peers.events.clone(), bus_name);
    let store = peers.store();
    let config = config(
        &log_group,
        AnalyzerTuning {
            max_events_per_run: 400,
            ..tuning()
        },
    );
    let mut runs = 0;
    loop {
        runs += 1;
        let report = run_at(0, &source, &store, &bus, &config).await;
        ok(&report);
        if report.groups[0].stopped.is_none() {
            break;
        }
        assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
        assert!(runs < 6, "never finished: {report:#?}");
    }
    assert_eq!(runs, 3, "900 events at 400 per run");
    let record = live_record(&store, &log_group, "request").await;
    assert_eq!(record.stats.lines_total, 900);
    assert_eq!(record.stats.windows, 1);
}

#[tokio::test]
async fn a_template_id_is_the_same_after_a_restart() {
    let Some(peers) = peers("a_template_id_is_the_same_after_a_restart").await else {
        return;
    };
    let log_group = peers.log_group().await;
    peers
        .put_lines(&log_group, window(0), &payment_errors(20))
        .await;
    peers
        .put_lines(&log_group, window(1), &payment_errors(25))
        .await;
    let (bus_name, _) = peers.bus_to_queue().await;
    let config = config(&log_group, tuning());
    let before = {
        let source = CloudWatchLogSource::new(peers.logs.clone());
        let bus = EventBridgeBus::new(peers.events.clone(), bus_name.clone());
        let store = peers.store();
        ok(&run_at(0, &source, &store, &bus, &config).await);
        live_record(&store, &log_group, "payment").await
    };
    // A cold start: new clients, a new store, a miner rebuilt from the table.
    let source = CloudWatchLogSource::new(peers.logs.clone());
    let bus = EventBridgeBus::new(peers.events.clone(), bus_name);
    let store = peers.store();
    let report = run_at(1, &source, &store, &bus, &config).await;
    ok(&report);
    assert_eq!(report.groups[0].new_templates, 0);
    let after = live_record(&store, &log_group, "payment").await;
    assert_eq!(after.template_id, before.template_id);
    assert_eq!(after.stats.lines_total, 45);
}

#[tokio::test]
async fn dynamodb_passes_the_baseline_store_conformance_suite() {
    let Some(peers) = peers("dynamodb_passes_the_baseline_store_conformance_suite").await else {
        return;
    };
    argus::loganalysis::conformance::baseline_store_conformance(
        &peers.store(),
        &unique_name("conformance"),
    )
    .await;
}

/// `n` as lower-case letters (no digits, which the miner would mask into one template).
fn letters(mut n: usize) -> String {
    let mut word = String::new();
    loop {
        word.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return word;
        }
    }
}

/// Lines that share no word, so each is a template of its own.
fn distinct_line(family: usize, n: usize) -> String {
    let base = 200_000 + family * 100_000 + n * 3;
    format!(
        "{} {} {}",
        letters(base),
        letters(base + 1),
        letters(base + 2)
    )
}

/// Runs over an in-memory log source (the item sizes, not the log source, are under test) with
/// the baselines in DynamoDB Local, the clock at the end of window `index` after the epoch.
async fn run_in_memory(
    index: i64,
    source: &argus::loganalysis::memory::MemoryLogSource,
    store: &DynamoStore,
    config: &AnalyzerConfig,
) -> RunReport {
    let clock = ManualClock::new(argus::testing::epoch() + Duration::seconds(60 * (index + 1)));
    LogAnalyzer {
        source,
        store,
        bus: &argus::loganalysis::memory::MemoryEventBus::new(),
        clock: &clock,
        config,
    }
    .run(None)
    .await
}

fn put_in_memory(
    source: &argus::loganalysis::memory::MemoryLogSource,
    log_group: &str,
    index: i64,
    lines: &[String],
) {
    let start = (argus::testing::epoch() + Duration::seconds(60 * index)).timestamp_millis();
    source.put(
        log_group,
        lines
            .iter()
            .enumerate()
            .map(|(offset, line)| argus::loganalysis::LogEvent {
                timestamp_ms: start + offset as i64,
                message: line.clone(),
            }),
    );
}

#[tokio::test]
async fn attack_a_part_read_window_at_the_largest_cap_is_saved_in_dynamodb() {
    let Some(peers) =
        peers("attack_a_part_read_window_at_the_largest_cap_is_saved_in_dynamodb").await
    else {
        return;
    };
    let store = peers.store();
    let log_group = format!("/aws/lambda/{}", unique_name("flood"));
    // GIVEN the largest template cap, five samples per template, lines whose samples double
    // in size as JSON, and a run budget that stops inside the window
    let config = config(
        &log_group,
        AnalyzerTuning {
            max_templates_per_group: 4_000,
            samples_per_anomaly: 5,
            max_events_per_run: 4_100,
            page_size: 1_000,
            ..tuning()
        },
    );
    config.tuning.validate().unwrap();
    let source = argus::loganalysis::memory::MemoryLogSource::new();
    let padding = "\\".repeat(600);
    let mut lines = Vec::new();
    for n in 0..4_000 {
        for _ in 0..if n < 64 { 5 } else { 1 } {
            lines.push(format!("{} {padding}", distinct_line(0, n)));
        }
    }
    put_in_memory(&source, &log_group, 0, &lines);
    // WHEN the run stops part-way THEN its checkpoint is accepted by DynamoDB
    let report = run_in_memory(0, &source, &store, &config).await;
    ok(&report);
    assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
    let partial = store
        .load_log_group(&log_group)
        .await
        .unwrap()
        .checkpoint
        .unwrap()
        .partial
        .unwrap();
    assert_eq!(partial.events, 4_100);
    // AND the next run finishes the window, every line counted once
    let report = run_in_memory(0, &source, &store, &config).await;
    ok(&report);
    assert_eq!(report.groups[0].windows_closed, 1);
    let state = store.load_log_group(&log_group).await.unwrap();
    let total: u64 = state
        .templates
        .iter()
        .map(|record| record.stats.lines_total)
        .sum();
    assert_eq!(total, lines.len() as u64);
}

#[tokio::test]
async fn templates_evicted_at_the_cap_are_tombstones_that_expire_in_dynamodb() {
    let Some(peers) =
        peers("templates_evicted_at_the_cap_are_tombstones_that_expire_in_dynamodb").await
    else {
        return;
    };
    let store = peers.store();
    let log_group = format!("/aws/lambda/{}", unique_name("evict"));
    let config = config(
        &log_group,
        AnalyzerTuning {
            max_templates_per_group: 20,
            ..tuning()
        },
    );
    let source = argus::loganalysis::memory::MemoryLogSource::new();
    let old: Vec<String> = (0..20).map(|n| distinct_line(1, n)).collect();
    put_in_memory(&source, &log_group, 0, &old);
    ok(&run_in_memory(0, &source, &store, &config).await);
    let new: Vec<String> = (0..3).map(|n| distinct_line(2, n)).collect();
    put_in_memory(&source, &log_group, 1, &new);
    let report = run_in_memory(1, &source, &store, &config).await;
    ok(&report);
    assert_eq!(report.groups[0].templates_evicted, 3);
    assert_eq!(report.groups[0].lines_over_template_cap, 0);
    let state = store.load_log_group(&log_group).await.unwrap();
    let evicted: Vec<&TemplateRecord> = state
        .templates
        .iter()
        .filter(|record| record.evicted_at.is_some())
        .collect();
    assert_eq!(evicted.len(), 3);
    for record in evicted {
        let item = peers
            .dynamodb
            .get_item()
            .table_name(&peers.patterns_table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("LOG#{log_group}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("TPL#{}", record.template_id)),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert!(
            item.contains_key("expires_at"),
            "an evicted tombstone expires: {item:?}"
        );
    }
}
