//! The log analyzer over in-memory ports and the embedded store: baselines are stored, anomalies
//! are raised once per template and window (and accepted by the orchestrator's normaliser),
//! interrupted runs never count a window twice, and template ids survive restarts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::clock::ManualClock;
use argus::config::SignalConfig;
use argus::loganalysis::memory::{MemoryEventBus, MemoryLogSource};
use argus::loganalysis::{
    AnalyzerConfig, AnalyzerTuning, BaselineStore, LogAnalyzer, LogEvent, LogGroupState,
    LogGroupWrite, RunReport, SaveOutcome, StopReason, TemplateRecord,
};
use argus::ports::StoreError;
use argus::signal::{LogAnomalyDetail, Normalised, SignalSource, normalise};
use argus::store::embedded::EmbeddedStore;
use argus::testing::{delivered, epoch};
use async_trait::async_trait;
use chrono::Duration;
use serde_json::Value;
use std::sync::Mutex;

const GROUP: &str = "/aws/lambda/checkout";

fn tuning() -> AnalyzerTuning {
    AnalyzerTuning {
        window_seconds: 60,
        ingestion_lag_seconds: 0,
        learning_windows: 1,
        min_history_windows: 3,
        spike_min_count: 10,
        spike_z: 3.0,
        ..AnalyzerTuning::default()
    }
}

/// Fails saves on demand: before writing anything, or after writing the records but not the
/// checkpoint (an invocation killed between the two).
#[derive(Default)]
struct InterruptingStore {
    inner: Option<EmbeddedStore>,
    mode: Mutex<Interruption>,
}

#[derive(Clone, Copy, Default, PartialEq)]
enum Interruption {
    #[default]
    None,
    BeforeStoring,
    BeforeCheckpoint,
}

impl InterruptingStore {
    fn new(inner: EmbeddedStore) -> Self {
        Self {
            inner: Some(inner),
            mode: Mutex::new(Interruption::None),
        }
    }

    fn interrupt(&self, mode: Interruption) {
        *self.mode.lock().unwrap() = mode;
    }

    fn inner(&self) -> &EmbeddedStore {
        self.inner.as_ref().unwrap()
    }
}

#[async_trait]
impl BaselineStore for InterruptingStore {
    async fn load_log_group(&self, log_group: &str) -> Result<LogGroupState, StoreError> {
        self.inner().load_log_group(log_group).await
    }

    async fn save_log_group(&self, write: LogGroupWrite<'_>) -> Result<SaveOutcome, StoreError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Interruption::None => self.inner().save_log_group(write).await,
            Interruption::BeforeStoring => {
                Err(StoreError::Unavailable("interrupted before storing".into()))
            }
            Interruption::BeforeCheckpoint => {
                let records_only = LogGroupWrite {
                    checkpoint: None,
                    ..write
                };
                self.inner().save_log_group(records_only).await?;
                Err(StoreError::Unavailable(
                    "interrupted before the checkpoint".into(),
                ))
            }
        }
    }
}

struct World {
    source: MemoryLogSource,
    bus: MemoryEventBus,
    store: InterruptingStore,
    clock: ManualClock,
    config: AnalyzerConfig,
}

impl World {
    fn new(tuning: AnalyzerTuning) -> Self {
        Self::with_store(tuning, EmbeddedStore::in_memory().unwrap())
    }

    fn with_store(tuning: AnalyzerTuning, store: EmbeddedStore) -> Self {
        let mut config =
            AnalyzerConfig::parse(&format!("{GROUP}=lambda:function/checkout"), None).unwrap();
        config.tuning = tuning;
        let source = MemoryLogSource::new();
        source.put(GROUP, []);
        Self {
            source,
            bus: MemoryEventBus::new(),
            store: InterruptingStore::new(store),
            // The first run reads window 0, [epoch, epoch + 1 min).
            clock: ManualClock::new(epoch() + Duration::seconds(60)),
            config,
        }
    }

    /// Puts lines into window `window` (minute `window` after the epoch), a millisecond apart.
    fn put(&self, window: i64, lines: &[String]) {
        let start = (epoch() + Duration::seconds(60 * window)).timestamp_millis();
        self.source.put(
            GROUP,
            lines.iter().enumerate().map(|(index, line)| LogEvent {
                timestamp_ms: start + index as i64 * 10,
                message: line.clone(),
            }),
        );
    }

    /// Runs with the clock at the end of window `window`, so windows up to it are read.
    async fn run_through(&self, window: i64) -> RunReport {
        self.clock
            .set(epoch() + Duration::seconds(60 * (window + 1)));
        self.run().await
    }

    /// Runs once per window, as the schedule would, through window `last`.
    async fn run_each_through(&self, last: i64) {
        for window in 0..=last {
            no_errors(&self.run_through(window).await);
        }
    }

    async fn run(&self) -> RunReport {
        LogAnalyzer {
            source: &self.source,
            store: &self.store,
            bus: &self.bus,
            clock: &self.clock,
            config: &self.config,
        }
        .run(None)
        .await
    }

    fn anomalies(&self) -> Vec<LogAnomalyDetail> {
        self.bus
            .events()
            .iter()
            .map(|event| serde_json::from_value(event.detail.clone()).unwrap())
            .collect()
    }

    async fn records(&self) -> Vec<TemplateRecord> {
        self.store
            .inner()
            .load_log_group(GROUP)
            .await
            .unwrap()
            .templates
    }

    async fn live_record_for(&self, needle: &str) -> TemplateRecord {
        self.records()
            .await
            .into_iter()
            .find(|record| record.renamed_to.is_none() && record.text.contains(needle))
            .unwrap_or_else(|| panic!("no live template containing {needle}"))
    }
}

fn requests(count: usize, offset: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            format!(
                "INFO request {} from 10.0.0.{} handled in {}ms",
                offset + index,
                index % 200,
                index % 90
            )
        })
        .collect()
}

fn payment_errors(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            format!(
                "ERROR payment provider timeout after 3000ms for order {} password=hunter{index}",
                9000 + index
            )
        })
        .collect()
}

fn no_errors(report: &RunReport) {
    assert!(report.first_error().is_none(), "{report:?}");
}

#[tokio::test]
async fn events_are_read_and_their_baselines_stored() {
    let world = World::new(tuning());
    world.put(0, &requests(40, 0));
    let report = world.run_through(0).await;
    no_errors(&report);
    let group = &report.groups[0];
    assert_eq!(group.events_read, 40);
    assert_eq!(group.windows_closed, 1);
    assert_eq!(group.templates, 1);
    let record = world.live_record_for("request").await;
    assert_eq!(record.stats.windows, 1);
    assert_eq!(record.stats.lines_total, 40);
    assert!((record.stats.mean - 40.0).abs() < 1e-9);
    assert_eq!(record.stats.last_window, Some(epoch().timestamp() / 60));
    assert!(
        record.sample.starts_with("INFO request"),
        "{}",
        record.sample
    );
    assert_eq!(record.first_seen, epoch());
    let checkpoint = world
        .store
        .inner()
        .load_log_group(GROUP)
        .await
        .unwrap()
        .checkpoint
        .unwrap();
    assert_eq!(checkpoint.window_start, epoch() + Duration::seconds(60));
    assert_eq!(checkpoint.windows_closed, 1);
    assert!(
        world.anomalies().is_empty(),
        "the first window is only learned"
    );
}

#[tokio::test]
async fn a_burst_of_a_new_error_template_is_one_anomaly_the_orchestrator_accepts() {
    let world = World::new(tuning());
    world.put(0, &requests(30, 0));
    no_errors(&world.run_through(0).await);
    let mut window = requests(30, 100);
    window.extend(payment_errors(500));
    world.put(1, &window);
    let report = world.run_through(1).await;
    no_errors(&report);
    let anomalies = world.anomalies();
    assert_eq!(anomalies.len(), 1, "{anomalies:#?}");
    let anomaly = &anomalies[0];
    assert_eq!(anomaly.kind, "new_error_template");
    assert_eq!(anomaly.level.as_deref(), Some("error"));
    assert_eq!(anomaly.count, 500);
    assert_eq!(anomaly.log_group, GROUP);
    assert_eq!(
        anomaly.resource.as_deref(),
        Some("lambda:function/checkout")
    );
    assert_eq!(anomaly.window.start, epoch() + Duration::seconds(60));
    assert_eq!(anomaly.baseline.windows, 0);
    assert_eq!(anomaly.samples.len(), 3);
    assert!(
        anomaly
            .samples
            .iter()
            .all(|sample| !sample.contains("hunter")),
        "samples are sanitised: {:?}",
        anomaly.samples
    );
    assert!(anomaly.template.contains("payment provider timeout"));
    // The next window with the same errors is not new any more: nothing more is published.
    world.put(2, &payment_errors(500));
    no_errors(&world.run_through(2).await);
    assert_eq!(world.anomalies().len(), 1, "one anomaly, never a flood");

    // What the analyzer put on the bus, in the envelope EventBridge delivers, is accepted by the
    // orchestrator's normaliser as a log-anomaly signal for the same template.
    let envelope = delivered(
        &world.bus.events()[0],
        "7f0d3b52-3c40-4a1a-9e0e-6a1c1c1f0b1d",
    );
    let Normalised::Signals(signals) = normalise(&envelope, &SignalConfig::default()).unwrap()
    else {
        panic!("the anomaly was ignored");
    };
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].source, SignalSource::LogAnomaly);
    assert_eq!(
        signals[0].signature,
        format!("log:{GROUP}:{}", anomaly.template_id)
    );
    assert_eq!(signals[0].resource.as_str(), "lambda:function/checkout");
    assert_eq!(signals[0].severity_hint, Some(6));
}

#[tokio::test]
async fn a_rate_spike_is_reported_only_after_enough_history() {
    let world = World::new(tuning());
    // A spike in the second window has too little history to be judged one.
    world.put(0, &requests(10, 0));
    world.put(1, &requests(80, 100));
    for window in 2..6 {
        world.put(window, &requests(10, 1000 * window as usize));
    }
    world.put(6, &requests(90, 9000));
    world.run_each_through(6).await;
    let anomalies = world.anomalies();
    assert_eq!(anomalies.len(), 1, "{anomalies:#?}");
    let spike = &anomalies[0];
    assert_eq!(spike.kind, "rate_spike");
    assert_eq!(spike.count, 90);
    assert!(spike.score >= 3.0, "{}", spike.score);
    assert!(spike.baseline.windows >= 3);
    assert!(spike.baseline.mean < 30.0, "{}", spike.baseline.mean);
    assert_eq!(spike.window.start, epoch() + Duration::seconds(6 * 60));
}

#[tokio::test]
async fn a_heartbeat_that_stops_is_reported_once() {
    let world = World::new(AnalyzerTuning {
        heartbeat_min_windows: 3,
        ..tuning()
    });
    for window in 0..4 {
        world.put(window, &["health check ok".to_string()]);
    }
    world.put(4, &requests(5, 0));
    world.put(5, &requests(5, 10));
    world.run_each_through(5).await;
    let anomalies = world.anomalies();
    assert_eq!(anomalies.len(), 1, "{anomalies:#?}");
    assert_eq!(anomalies[0].kind, "heartbeat_missing");
    assert_eq!(anomalies[0].count, 0);
    assert_eq!(
        anomalies[0].window.start,
        epoch() + Duration::seconds(4 * 60)
    );
    assert_eq!(anomalies[0].samples, vec!["health check ok".to_string()]);
}

#[tokio::test]
async fn a_run_interrupted_before_storing_counts_the_window_once_on_the_next_run() {
    let world = World::new(tuning());
    world.put(0, &requests(25, 0));
    world.store.interrupt(Interruption::BeforeStoring);
    let failed = world.run_through(0).await;
    assert_eq!(
        failed.groups[0].error_type.as_deref(),
        Some("StoreUnavailable")
    );
    assert!(world.records().await.is_empty());
    world.store.interrupt(Interruption::None);
    no_errors(&world.run().await);
    let record = world.live_record_for("request").await;
    assert_eq!(record.stats.lines_total, 25);
    assert_eq!(record.stats.windows, 1);
}

#[tokio::test]
async fn a_run_interrupted_before_its_checkpoint_neither_double_counts_nor_loses_the_anomaly() {
    let world = World::new(tuning());
    world.put(0, &requests(20, 0));
    no_errors(&world.run_through(0).await);
    let mut burst = requests(20, 100);
    burst.extend(payment_errors(40));
    world.put(1, &burst);
    world.store.interrupt(Interruption::BeforeCheckpoint);
    let failed = world.run_through(1).await;
    assert!(failed.first_error().is_some());
    let stored = world.live_record_for("request").await;
    assert_eq!(stored.stats.lines_total, 40, "the records were stored");
    world.store.interrupt(Interruption::None);
    no_errors(&world.run().await);
    let record = world.live_record_for("request").await;
    assert_eq!(record.stats.lines_total, 40, "window 1 counted once");
    assert_eq!(record.stats.windows, 2);
    let errors = world.live_record_for("payment").await;
    assert_eq!(errors.stats.lines_total, 40);
    let anomalies = world.anomalies();
    assert_eq!(
        anomalies.len(),
        2,
        "published before the interruption and again after (at least once)"
    );
    assert_eq!(anomalies[0], anomalies[1], "the same anomaly both times");
}

#[tokio::test]
async fn a_burst_larger_than_the_run_budget_is_read_over_several_runs_and_counted_once() {
    let world = World::new(AnalyzerTuning {
        max_events_per_run: 300,
        page_size: 100,
        ..tuning()
    });
    world.put(0, &requests(10, 0));
    no_errors(&world.run_through(0).await);
    let mut burst = requests(10, 100);
    burst.extend(payment_errors(1000));
    world.put(1, &burst);
    let mut runs = 0;
    loop {
        runs += 1;
        let report = world.run_through(1).await;
        no_errors(&report);
        if report.groups[0].stopped.is_none() {
            break;
        }
        assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
        assert!(report.groups[0].events_read <= 300);
        assert!(runs < 10, "the burst never finished");
    }
    assert_eq!(runs, 4, "1010 events at 300 per run");
    let errors = world.live_record_for("payment").await;
    assert_eq!(errors.stats.lines_total, 1000);
    assert_eq!(errors.stats.windows, 1);
    let anomalies = world.anomalies();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].count, 1000);
}

#[tokio::test]
async fn template_ids_are_the_same_after_a_restart() {
    let folder = std::env::temp_dir().join(argus::testing::unique("argus-log-analyzer"));
    let path = folder.join("argus.redb");
    let lines = payment_errors(5);
    let first_ids = {
        let world = World::with_store(tuning(), EmbeddedStore::open(&path).unwrap());
        world.put(0, &requests(10, 0));
        world.put(1, &lines);
        world.run_each_through(1).await;
        let mut ids: Vec<String> = world
            .records()
            .await
            .iter()
            .map(|record| record.template_id.to_string())
            .collect();
        ids.sort();
        ids
    };
    // A new process: the store file is opened again and the miner rebuilt from it.
    let world = World::with_store(tuning(), EmbeddedStore::open(&path).unwrap());
    world.put(2, &payment_errors(7));
    world.put(2, &requests(3, 500));
    let report = world.run_through(2).await;
    no_errors(&report);
    assert_eq!(report.groups[0].new_templates, 0, "{report:?}");
    let mut ids: Vec<String> = world
        .records()
        .await
        .iter()
        .map(|record| record.template_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, first_ids);
    assert_eq!(
        world.live_record_for("payment").await.stats.lines_total,
        12,
        "5 lines before the restart and 7 after, under one id"
    );
    std::fs::remove_dir_all(folder).ok();
}

#[tokio::test]
async fn a_template_generalised_in_a_later_run_keeps_its_baseline_under_its_new_id() {
    let world = World::new(tuning());
    let opened = |user: &str| format!("session opened for user {user} by uid 0");
    world.put(0, &vec![opened("alice"); 12]);
    no_errors(&world.run_through(0).await);
    let before = world.live_record_for("session opened").await;
    // The miner keeps up to three different plain words at one place apart (they may be different
    // messages); a fourth makes the place a variable.
    world.put(
        1,
        &[
            opened("bob"),
            opened("carol"),
            opened("dave"),
            opened("alice"),
        ],
    );
    no_errors(&world.run_through(1).await);
    let records = world.records().await;
    let tombstone = records
        .iter()
        .find(|record| record.template_id == before.template_id)
        .unwrap();
    let successor = tombstone
        .renamed_to
        .expect("the old id names its successor");
    let after = records
        .iter()
        .find(|record| record.template_id == successor)
        .unwrap();
    assert!(after.text.contains("<*>"), "{}", after.text);
    assert_eq!(after.stats.lines_total, 16, "history moved to the new id");
    assert_eq!(after.stats.windows, 2);
    assert!(world.anomalies().is_empty());
}

#[tokio::test]
async fn many_new_error_templates_in_one_run_are_capped() {
    let world = World::new(AnalyzerTuning {
        max_anomalies_per_run: 3,
        ..tuning()
    });
    world.put(0, &requests(5, 0));
    no_errors(&world.run_through(0).await);
    let distinct: Vec<String> = [
        "ERROR disk full on volume data",
        "FATAL cannot allocate memory for cache",
        "ERROR connection refused by database primary",
        "ERROR certificate expired for upstream api",
        "java.lang.IllegalStateException: queue closed unexpectedly",
    ]
    .iter()
    .map(|line| line.to_string())
    .collect();
    world.put(1, &distinct);
    let report = world.run_through(1).await;
    no_errors(&report);
    assert_eq!(world.anomalies().len(), 3);
    assert_eq!(report.groups[0].anomalies_suppressed, 2);
    assert_eq!(
        world.anomalies()[0].level.as_deref(),
        Some("fatal"),
        "the most severe first"
    );
}

#[tokio::test]
async fn a_run_near_its_deadline_stops_and_resumes_later() {
    let world = World::new(tuning());
    world.put(0, &requests(5, 0));
    world.clock.set(epoch() + Duration::seconds(60));
    let analyzer = LogAnalyzer {
        source: &world.source,
        store: &world.store,
        bus: &world.bus,
        clock: &world.clock,
        config: &world.config,
    };
    let deadline = world.clock_now() + Duration::seconds(5);
    let report = analyzer.run(Some(deadline)).await;
    assert_eq!(report.groups[0].stopped, Some(StopReason::Time));
    assert_eq!(report.groups[0].events_read, 0);
    let report = analyzer.run(None).await;
    no_errors(&report);
    assert_eq!(report.groups[0].events_read, 5);
}

#[tokio::test]
async fn the_report_serialises_for_the_lambda_response() {
    let world = World::new(tuning());
    world.put(0, &requests(3, 0));
    let report = world.run_through(0).await;
    let value: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["groups"][0]["log_group"], GROUP);
    assert_eq!(value["groups"][0]["events_read"], 3);
}

#[tokio::test]
async fn the_orchestrator_opens_one_incident_for_an_anomaly_published_twice() {
    // GIVEN an anomaly published twice (once before an interruption, once on the retry)
    let world = World::new(tuning());
    world.put(0, &requests(20, 0));
    no_errors(&world.run_through(0).await);
    world.put(1, &payment_errors(30));
    world.store.interrupt(Interruption::BeforeCheckpoint);
    world.run_through(1).await;
    world.store.interrupt(Interruption::None);
    no_errors(&world.run().await);
    let published = world.bus.events();
    assert_eq!(published.len(), 2);
    // WHEN EventBridge delivers both to the orchestrator's intake path
    let incidents = EmbeddedStore::in_memory().unwrap();
    let workflow = incidents.local_workflow();
    let clock = ManualClock::new(epoch() + Duration::minutes(3));
    let config = argus::config::Config::default();
    let intake = argus::intake::Intake {
        store: &incidents,
        patterns: &incidents,
        analyst: &argus::analysis::RulesAnalyst,
        workflow: &workflow,
        clock: &clock,
        config: &config,
        investigator: None,
        resource_tags: None,
    };
    let first = intake
        .process_event(&delivered(
            &published[0],
            "0a6c4a0e-0000-4000-8000-000000000001",
        ))
        .await
        .unwrap();
    let second = intake
        .process_event(&delivered(
            &published[1],
            "0a6c4a0e-0000-4000-8000-000000000002",
        ))
        .await
        .unwrap();
    // THEN the first opens an incident on the log group's resource and the second joins it
    assert_eq!(first.signals[0].outcome, argus::intake::Outcome::Opened);
    assert_eq!(second.signals[0].outcome, argus::intake::Outcome::Attached);
    assert_eq!(
        first.signals[0].correlation_id,
        second.signals[0].correlation_id
    );
    assert_eq!(
        first.signals[0].signal.resource.as_str(),
        "lambda:function/checkout"
    );
}

#[tokio::test]
async fn huge_lines_and_bursts_of_many_templates_keep_stored_items_small() {
    let world = World::new(AnalyzerTuning {
        max_events_per_run: 100,
        page_size: 50,
        ..tuning()
    });
    world.put(0, &requests(5, 0));
    no_errors(&world.run_through(0).await);
    // A 200 KB line (CloudWatch Logs allows 256 KB), and 120 distinct templates in a burst that
    // takes more than one run.
    let mut burst = vec![format!("ERROR dump {}", "é".repeat(100_000))];
    // Lines of different lengths never share a template.
    for length in 0..120 {
        burst.push(format!("WARN stage failed at{}", " step".repeat(length)));
    }
    world.put(1, &burst);
    let report = world.run_through(1).await;
    no_errors(&report);
    assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
    assert!(report.groups[0].templates > 90, "{report:?}");
    let state = world.store.inner().load_log_group(GROUP).await.unwrap();
    let partial = state.checkpoint.unwrap().partial.unwrap();
    assert!(partial.samples.len() <= 64, "{}", partial.samples.len());
    assert!(serde_json::to_vec(&partial).unwrap().len() < 100_000);
    for record in &state.templates {
        let size = serde_json::to_vec(record).unwrap().len();
        assert!(
            size < 40_000,
            "a {size}-byte record: {}",
            &record.text[..80]
        );
    }
}

#[tokio::test]
async fn an_expired_page_token_rereads_the_window_from_its_start_and_counts_it_once() {
    let world = World::new(AnalyzerTuning {
        max_events_per_run: 100,
        page_size: 50,
        ..tuning()
    });
    world.put(0, &requests(250, 0));
    let report = world.run_through(0).await;
    assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
    // GIVEN the saved position is refused (CloudWatch Logs tokens expire after a day)
    let state = world.store.inner().load_log_group(GROUP).await.unwrap();
    let mut checkpoint = state.checkpoint.unwrap();
    let partial = checkpoint.partial.as_mut().unwrap();
    assert_eq!(partial.counts.values().sum::<u64>(), 100);
    partial.next_token = "expired".to_string();
    checkpoint.revision += 1;
    let saved = world
        .store
        .inner()
        .save_log_group(LogGroupWrite {
            log_group: GROUP,
            templates: &[],
            checkpoint: Some(&checkpoint),
            tombstone_expires_at: epoch(),
        })
        .await
        .unwrap();
    assert_eq!(saved, SaveOutcome::Saved);
    // WHEN the next runs resume
    for _ in 0..4 {
        no_errors(&world.run_through(0).await);
    }
    // THEN the window was read again from its start, dropping the 100 counted before, once
    let record = world.live_record_for("request").await;
    assert_eq!(record.stats.lines_total, 250);
    assert_eq!(record.stats.windows, 1);
}

#[tokio::test]
async fn the_embedded_store_passes_the_baseline_store_conformance_suite() {
    let store = EmbeddedStore::in_memory().unwrap();
    argus::loganalysis::conformance::baseline_store_conformance(&store, "embedded").await;
}

impl World {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use argus::clock::Clock;
        self.clock.now()
    }
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

#[tokio::test]
async fn attack_a_flood_of_distinct_lines_cannot_grow_the_templates_without_bound() {
    // GIVEN a log group whose lines share no word (each would be a template of its own)
    let world = World::new(tuning());
    let lines: Vec<String> = (0..3_000)
        .map(|n| {
            format!(
                "{} {} {}",
                letters(n * 3 + 100_000),
                letters(n * 3 + 100_001),
                letters(n * 3 + 100_002)
            )
        })
        .collect();
    world.put(0, &lines);
    // WHEN the analyzer reads them
    let report = world.run_through(0).await;
    no_errors(&report);
    // THEN the group keeps at most the default cap of templates, and says how many lines it
    // could not give one
    let group = &report.groups[0];
    assert!(group.templates <= 2_000, "{} templates", group.templates);
    assert!(world.records().await.len() <= 2_000);
    let json = serde_json::to_value(group).unwrap();
    assert_eq!(json["lines_over_template_cap"], 1_000, "{json}");
}

/// The `n`-th line of a family of lines that share no word, so each is a template of its own.
fn distinct_line(family: usize, n: usize) -> String {
    let base = 200_000 + family * 100_000 + n * 3;
    format!(
        "{} {} {}",
        letters(base),
        letters(base + 1),
        letters(base + 2)
    )
}

#[tokio::test]
async fn attack_at_the_template_cap_the_stalest_templates_are_evicted_and_new_ones_learned() {
    // GIVEN a group at its cap of 50 templates, ten of them seen again in the next window
    let world = World::new(AnalyzerTuning {
        max_templates_per_group: 50,
        ..tuning()
    });
    let old: Vec<String> = (0..50).map(|n| distinct_line(0, n)).collect();
    world.put(0, &old);
    world.put(1, &old[40..50]);
    no_errors(&world.run_through(0).await);
    no_errors(&world.run_through(1).await);
    // WHEN ten new kinds of line arrive in a window that also repeats five old ones
    let mut window_two: Vec<String> = old[..5].to_vec();
    window_two.extend((0..10).map(|n| distinct_line(1, n)));
    world.put(2, &window_two);
    let report = world.run_through(2).await;
    no_errors(&report);
    // THEN the new lines are learned, no line is left out, and the cap holds
    let group = serde_json::to_value(&report.groups[0]).unwrap();
    assert_eq!(group["lines_over_template_cap"], 0, "{group}");
    assert_eq!(group["new_templates"], 10, "{group}");
    assert!(report.groups[0].templates <= 50, "{group}");
    // AND the ten stalest went (none seen in windows one or two), as tombstones under their ids
    assert_eq!(group["templates_evicted"], 10, "{group}");
    let records = world.records().await;
    let evicted: Vec<&TemplateRecord> = records
        .iter()
        .filter(|record| record.evicted_at.is_some())
        .collect();
    assert_eq!(evicted.len(), 10);
    for record in &evicted {
        let line = old
            .iter()
            .position(|line| record.text == *line)
            .unwrap_or_else(|| panic!("evicted {} is not an old template", record.text));
        assert!(
            (5..40).contains(&line),
            "line {line} was seen in a recent window"
        );
    }
    for line in old[..5].iter().chain(&old[40..50]) {
        assert!(
            records
                .iter()
                .any(|record| record.is_live() && record.text == *line),
            "{line} was seen recently and stays"
        );
    }
    // WHEN an evicted template's line comes back THEN it is learned under the same id, with
    // the baseline it had
    let returning = evicted[0].clone();
    world.put(3, std::slice::from_ref(&returning.text));
    let report = world.run_through(3).await;
    no_errors(&report);
    let revived = world
        .records()
        .await
        .into_iter()
        .find(|record| record.template_id == returning.template_id)
        .unwrap();
    assert!(revived.is_live(), "{revived:?}");
    assert_eq!(revived.stats.lines_total, returning.stats.lines_total + 1);
    assert_eq!(report.groups[0].templates_evicted, 1);
}

#[tokio::test]
async fn attack_a_part_read_window_at_the_largest_cap_keeps_its_checkpoint_under_the_item_limit() {
    // GIVEN the largest template cap, five samples per template, and lines whose samples grow
    // when written as JSON (every backslash is escaped)
    let tuning = AnalyzerTuning {
        max_templates_per_group: 4_000,
        samples_per_anomaly: 5,
        max_events_per_run: 4_100,
        page_size: 1_000,
        ..tuning()
    };
    tuning.validate().unwrap();
    let world = World::new(tuning);
    let padding = "\\".repeat(600);
    let mut lines = Vec::new();
    for n in 0..4_000 {
        let repeats = if n < 64 { 5 } else { 1 };
        for _ in 0..repeats {
            lines.push(format!("{} {padding}", distinct_line(2, n)));
        }
    }
    world.put(0, &lines);
    // WHEN a run stops inside the window
    let report = world.run_through(0).await;
    no_errors(&report);
    assert_eq!(report.groups[0].stopped, Some(StopReason::EventBudget));
    // THEN the checkpoint with its part-read counts stays well under DynamoDB's 400 KB
    let state = world.store.inner().load_log_group(GROUP).await.unwrap();
    let checkpoint = state.checkpoint.unwrap();
    let size = serde_json::to_vec(&checkpoint).unwrap().len();
    assert!(size < 300_000, "a {size}-byte checkpoint");
}
