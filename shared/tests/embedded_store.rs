//! The embedded store passes the same conformance suites as the DynamoDB adapter, in memory and
//! on disk, and keeps its data across reopening (what `argus replay` relies on).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::ports::IncidentStore;
use argus::store::embedded::EmbeddedStore;
use argus::testing::{incident_store_conformance, pattern_store_conformance};

#[tokio::test]
async fn in_memory_store_conforms() {
    let store = EmbeddedStore::in_memory().unwrap();
    incident_store_conformance(&store, "memory").await;
    pattern_store_conformance(&store, "memory").await;
}

#[tokio::test]
async fn file_store_conforms_and_survives_reopening() {
    let folder = std::env::temp_dir().join(argus::testing::unique("argus-store-test"));
    let path = folder.join("argus.redb");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        incident_store_conformance(&store, "file").await;
        pattern_store_conformance(&store, "file").await;
    }
    let reopened = EmbeddedStore::open(&path).unwrap();
    let incidents = reopened
        .list_incidents(&argus::ports::IncidentQuery {
            statuses: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        incidents.len(),
        7,
        "the suite's seven incidents are still there after reopening"
    );
    drop(reopened);
    std::fs::remove_dir_all(&folder).unwrap();
}
