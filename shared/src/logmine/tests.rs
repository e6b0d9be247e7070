//! Unit tests of the log-template miner: self-matching, id stability, state round trips, merging and bounded growth.
//!
//! Masking cases live next to the scanners in `masking.rs`.

use super::*;

/// A small mixed log: sshd, HDFS-style, proxy and kernel lines, with numbers, addresses, users and
/// repeated value lists, so that templates generalise, slots collapse and lists fold.
const SAMPLE_LINES: &[&str] = &[
    "Accepted password for root from 10.0.0.7 port 5122 ssh2",
    "Failed password for root from 10.0.0.8 port 4122 ssh2",
    "Failed password for admin from 10.0.0.9 port 4123 ssh2",
    "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
    "Failed password for invalid user oracle from 52.80.34.196 port 4411 ssh2",
    "Invalid user webmaster from 173.234.31.186",
    "Invalid user oracle from 52.80.34.196",
    "Invalid user guest from 5.188.10.180",
    "Connection closed by 10.0.0.7 [preauth]",
    "Connection closed by 10.0.0.9 [preauth]",
    "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
    "Received block blk_7503483334202473044 of size 67108864 from /10.251.215.16",
    "BLOCK* ask 10.250.14.38:50010 to delete  blk_-5140072410813878235",
    "BLOCK* ask 10.250.17.177:50010 to delete  blk_-8570780307468499817 blk_-9122557405432088649 blk_-4393063808227796056",
    "proxy.example.com:5070 close, 1190 bytes (1.16 KB) sent, 1671 bytes (1.63 KB) received, lifetime 00:02",
    "proxy.example.com:5070 close, 403 bytes sent, 426 bytes received, lifetime <1 sec",
    "www.example.org:443 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
    "Took 250ms to flush 10KB to /var/lib/data/segment-0001.log",
    "Took 3.5s to flush 1.5MB to /var/lib/data/segment-0002.log",
    "request 123e4567-e89b-12d3-a456-426614174000 finished in 12 ms",
    "request 9b2f5a0c-1111-4c2d-8e3f-0123456789ab finished in 40 ms",
    "instruction cache parity error corrected",
    "REPORT : 7028 5193 150 240000",
    "REPORT : 7007 5193 151 240000",
    "Failed password for oracle from 10.0.0.10 port 4124 ssh2",
    "Failed password for test from 10.0.0.11 port 4125 ssh2",
    "Failed password for invalid user guest from 5.188.10.180 port 4412 ssh2",
    "Failed password for invalid user admin from 5.188.10.181 port 4413 ssh2",
    "Invalid user admin from 5.188.10.181",
    "",
];

fn learned_miner(lines: &[&str]) -> (TemplateMiner, Vec<TemplateId>) {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let ids = lines
        .iter()
        .map(|line| miner.add_line(line).template_id)
        .collect();
    (miner, ids)
}

fn template_text_of(miner: &TemplateMiner, id: TemplateId) -> String {
    miner
        .template(id)
        .map(|template| template.text.to_owned())
        .unwrap_or_default()
}

#[test]
fn every_learned_line_matches_its_own_template() {
    let (miner, ids) = learned_miner(SAMPLE_LINES);
    for (line, id) in SAMPLE_LINES.iter().zip(ids) {
        let current = miner.resolve_id(id);
        assert!(current.is_some(), "id of {line:?} no longer resolves");
        assert_eq!(
            miner.match_line(line),
            current,
            "line {line:?} does not match its own template"
        );
    }
}

#[test]
fn templates_show_masks_and_wildcards() {
    let (miner, ids) = learned_miner(SAMPLE_LINES);
    let text_of = |index: usize| {
        template_text_of(
            &miner,
            miner.resolve_id(ids[index]).unwrap_or(TemplateId(0)),
        )
    };
    assert_eq!(
        text_of(1),
        "Failed password for <*> from <IP> port <NUM> ssh2"
    );
    assert_eq!(text_of(5), "Invalid user <*> from <IP>");
    assert_eq!(
        text_of(10),
        "Received block blk_<NUM> of size <NUM> from /<IP>"
    );
    assert_eq!(text_of(13), "BLOCK* ask <IP> to delete blk_<NUM>");
    assert_eq!(
        text_of(14),
        "<*> close, <*> sent, <*> received, lifetime <*>"
    );
    assert_eq!(text_of(17), "Took <DUR> to flush <SIZE> to <PATH>");
    assert_eq!(text_of(19), "request <UUID> finished in <DUR>");
    assert_eq!(text_of(22), "REPORT : <NUM> <NUM> <NUM> <NUM>");
}

#[test]
fn different_leading_words_stay_apart() {
    let (miner, ids) = learned_miner(SAMPLE_LINES);
    // "Accepted password ..." and "Failed password ..." share all but one word, but an incident
    // responder must be able to tell them apart.
    assert_ne!(miner.resolve_id(ids[0]), miner.resolve_id(ids[1]));
    assert_eq!(miner.resolve_id(ids[1]), miner.resolve_id(ids[2]));
    assert_eq!(miner.resolve_id(ids[3]), miner.resolve_id(ids[4]));
    assert_ne!(miner.resolve_id(ids[2]), miner.resolve_id(ids[3]));
}

#[test]
fn match_line_does_not_learn() {
    let (miner, _) = learned_miner(SAMPLE_LINES);
    let before = miner.template_count();
    assert!(
        miner
            .match_line("Invalid user nobody from 10.1.2.3")
            .is_some()
    );
    assert_eq!(miner.match_line("a completely new kind of message"), None);
    assert_eq!(miner.template_count(), before);
}

#[test]
fn add_line_reports_new_templates_and_generalisation() {
    let mut miner = TemplateMiner::default();
    let first = miner.add_line("Invalid user alice from 10.0.0.1");
    assert!(first.is_new);
    assert_eq!(first.count, 1);
    assert_eq!(
        template_text_of(&miner, first.template_id),
        "Invalid user alice from <IP>"
    );
    // A second or third plain word at the same place may be a different message: each starts its own
    // template.
    let second = miner.add_line("Invalid user bob from 10.0.0.2");
    assert!(second.is_new);
    assert_eq!(second.count, 1);
    assert_eq!(
        template_text_of(&miner, second.template_id),
        "Invalid user bob from <IP>"
    );
    let third = miner.add_line("Invalid user carol from 10.0.0.3");
    assert!(third.is_new);
    // A fourth one shows a variable: the templates fold into one, and the earlier ids resolve to it.
    let fourth = miner.add_line("Invalid user dave from 10.0.0.4");
    assert!(!fourth.is_new);
    assert_eq!(fourth.count, 4);
    assert_eq!(fourth.previous_id, Some(first.template_id));
    assert_eq!(
        template_text_of(&miner, fourth.template_id),
        "Invalid user <*> from <IP>"
    );
    for earlier in [first, second, third] {
        assert_eq!(
            miner.resolve_id(earlier.template_id),
            Some(fourth.template_id)
        );
    }
    assert_eq!(miner.template_count(), 1);
    let fifth = miner.add_line("Invalid user erin from 10.0.0.5");
    assert_eq!(
        (fifth.template_id, fifth.previous_id, fifth.count),
        (fourth.template_id, None, 5)
    );
    // Values that are not plain words (here ids with digits) generalise at once.
    let host = miner.add_line("Connection from dn228 closed");
    let other_host = miner.add_line("Connection from cn14 closed");
    assert!(!other_host.is_new);
    assert_eq!(other_host.previous_id, Some(host.template_id));
}

#[test]
fn ids_are_fnv1a_of_the_template_text() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    // A fixed template keeps this id in every run, process and build.
    let id = TemplateId::from_text("Connection closed by <IP> [preauth]");
    assert_eq!(id.to_string(), "t-f5483f309ea537e6");
    let (miner, ids) = learned_miner(SAMPLE_LINES);
    assert_eq!(miner.resolve_id(ids[8]), Some(id));
    assert_eq!(miner.template(id).map(|template| template.count), Some(2));
}

#[test]
fn ids_do_not_depend_on_insertion_order() {
    let (forward, _) = learned_miner(SAMPLE_LINES);
    let mut reversed_lines = SAMPLE_LINES.to_vec();
    reversed_lines.reverse();
    let (backward, _) = learned_miner(&reversed_lines);
    let mut forward_ids: Vec<_> = forward
        .templates()
        .map(|template| (template.id, template.count))
        .collect();
    let mut backward_ids: Vec<_> = backward
        .templates()
        .map(|template| (template.id, template.count))
        .collect();
    forward_ids.sort();
    backward_ids.sort();
    assert_eq!(forward_ids, backward_ids);
}

#[test]
fn template_id_parses_and_formats() {
    let id = TemplateId(0x0123_4567_89ab_cdef);
    assert_eq!(id.to_string(), "t-0123456789abcdef");
    assert_eq!("t-0123456789abcdef".parse::<TemplateId>(), Ok(id));
    assert!("t-0123".parse::<TemplateId>().is_err());
    assert!("x-0123456789abcdef".parse::<TemplateId>().is_err());
    assert!("t-0123456789abcdeg".parse::<TemplateId>().is_err());
    assert_eq!(
        serde_json::to_string(&id).ok().as_deref(),
        Some("\"t-0123456789abcdef\"")
    );
}

#[test]
fn save_and_load_keep_ids_counts_and_matches() {
    let (miner, ids) = learned_miner(SAMPLE_LINES);
    let json = miner.to_json();
    assert!(json.is_ok(), "saving failed: {json:?}");
    let json = json.unwrap_or_default();
    let loaded = TemplateMiner::from_json(&json);
    assert!(loaded.is_ok(), "loading failed: {loaded:?}");
    let Ok(mut loaded) = loaded else { return };
    let saved: Vec<_> = miner
        .templates()
        .map(|t| (t.id, t.text.to_owned(), t.count, t.sample.to_owned()))
        .collect();
    let restored: Vec<_> = loaded
        .templates()
        .map(|t| (t.id, t.text.to_owned(), t.count, t.sample.to_owned()))
        .collect();
    assert_eq!(saved, restored);
    for (line, id) in SAMPLE_LINES.iter().zip(&ids) {
        assert_eq!(loaded.match_line(line), miner.resolve_id(*id), "{line:?}");
    }
    // Learning continues where it left off: known lines add no templates.
    let before = loaded.template_count();
    for line in SAMPLE_LINES {
        assert!(!loaded.add_line(line).is_new, "{line:?}");
    }
    assert_eq!(loaded.template_count(), before);
    assert_eq!(
        loaded.to_json().ok().map(|json| json.len()),
        Some(json.len())
    );
}

#[test]
fn loading_rejects_bad_state() {
    assert!(matches!(
        TemplateMiner::from_json("{"),
        Err(StateError::Json(_))
    ));
    let (miner, _) = learned_miner(&SAMPLE_LINES[..3]);
    let mut state = miner.save_state();
    state.format_version = 99;
    assert!(matches!(
        TemplateMiner::from_state(&state),
        Err(StateError::UnsupportedVersion(99))
    ));
    let bad_token = r#"{"format_version":1,"config":{},"templates":[{"id":"t-0000000000000000","text":"x","count":1,"sample":"x","tokens":["?x"]}]}"#;
    assert!(TemplateMiner::from_json(bad_token).is_err());
}

#[test]
fn merge_combines_counts_and_adds_new_templates() {
    let (mut left, _) = learned_miner(&SAMPLE_LINES[..12]);
    let (right, _) = learned_miner(&SAMPLE_LINES[8..]);
    let left_counts: Vec<_> = left.templates().map(|t| (t.id, t.count)).collect();
    let right_counts: Vec<_> = right.templates().map(|t| (t.id, t.count)).collect();
    left.merge_state(&right.save_state()).unwrap_or_default();
    for (id, count) in &right_counts {
        let before = left_counts
            .iter()
            .find(|(left_id, _)| left_id == id)
            .map_or(0, |(_, count)| *count);
        assert_eq!(
            left.template(*id).map(|template| template.count),
            Some(before + count),
            "{id}"
        );
    }
    for (id, count) in &left_counts {
        if !right_counts.iter().any(|(right_id, _)| right_id == id) {
            assert_eq!(
                left.template(*id).map(|template| template.count),
                Some(*count)
            );
        }
    }
    // "Connection closed by ..." was in both halves: one template with both counts.
    let shared = TemplateId::from_text("Connection closed by <IP> [preauth]");
    assert_eq!(
        left.template(shared).map(|template| template.count),
        Some(4)
    );
    // After the merge every line of both halves still matches.
    for line in SAMPLE_LINES {
        assert!(left.match_line(line).is_some(), "{line:?}");
    }
    // Merging a miner directly gives the same result as merging its saved state.
    let (mut direct, _) = learned_miner(&SAMPLE_LINES[..12]);
    direct.merge(&right);
    let via_state: Vec<_> = left.templates().map(|t| (t.id, t.count)).collect();
    let via_miner: Vec<_> = direct.templates().map(|t| (t.id, t.count)).collect();
    assert_eq!(via_state, via_miner);
}

#[test]
fn repeating_input_does_not_grow_templates() {
    let mut miner = TemplateMiner::default();
    for line in SAMPLE_LINES {
        miner.add_line(line);
    }
    let after_first_pass = miner.template_count();
    let texts: Vec<String> = miner
        .templates()
        .map(|template| template.text.to_owned())
        .collect();
    for _ in 0..50 {
        for line in SAMPLE_LINES {
            assert!(!miner.add_line(line).is_new, "{line:?}");
        }
    }
    assert_eq!(miner.template_count(), after_first_pass);
    let texts_after: Vec<String> = miner
        .templates()
        .map(|template| template.text.to_owned())
        .collect();
    assert_eq!(texts, texts_after);
    let total: u64 = miner.templates().map(|template| template.count).sum();
    assert_eq!(total, 51 * SAMPLE_LINES.len() as u64);
}

#[test]
fn varying_values_do_not_grow_templates_and_cache_stays_bounded() {
    let config = MinerConfig {
        max_cached_shapes: 16,
        ..MinerConfig::default()
    };
    let mut miner = TemplateMiner::new(config);
    for index in 0..5_000u32 {
        let line = format!(
            "worker-{} finished job {} for user u{} in {}ms from 10.0.{}.{}",
            index % 7,
            index,
            index % 13,
            index * 3,
            index % 200,
            index % 250
        );
        miner.add_line(&line);
        miner.add_line(&format!("heartbeat {index} ok"));
    }
    assert!(
        miner.template_count() <= 4,
        "{:?}",
        miner.templates().map(|t| t.text).collect::<Vec<_>>()
    );
    assert!(miner.shape_cache_len() <= 16);
}

#[test]
fn samples_are_kept_once_and_cut() {
    let config = MinerConfig {
        max_sample_bytes: 10,
        ..MinerConfig::default()
    };
    let mut miner = TemplateMiner::new(config);
    let first = miner.add_line("héllo wörld number 1\r\n");
    miner.add_line("héllo wörld number 2");
    let view = miner.template(first.template_id);
    assert_eq!(view.map(|template| template.sample), Some("héllo wö"));
}

#[test]
fn wildcard_heavy_templates_still_match_their_lines() {
    // Drain3 pitfall: once most positions are wildcards, a similarity score counting wildcards as
    // differences falls below the threshold and lines stop matching the template they built.
    let mut miner = TemplateMiner::default();
    let lines = [
        "session alpha opened for beta by gamma now",
        "session alpha opened for delta by gamma now",
        "session alpha opened for delta by epsilon now",
        "session alpha opened for zeta by eta now",
    ];
    let ids: Vec<_> = lines
        .iter()
        .map(|line| miner.add_line(line).template_id)
        .collect();
    let current = miner.resolve_id(ids[0]);
    for (line, id) in lines.iter().zip(&ids) {
        assert_eq!(miner.resolve_id(*id), current);
        assert_eq!(miner.match_line(line), current, "{line:?}");
    }
    assert_eq!(miner.template_count(), 1);
}

#[test]
fn tokenizer_is_public_and_reusable() {
    let mut scratch = LineScratch::new();
    tokenize_and_mask("user=alice took 12ms", &mut scratch);
    assert_eq!(scratch.token_texts(), vec!["user=alice", "took", "<DUR>"]);
    tokenize_and_mask("short", &mut scratch);
    assert_eq!(scratch.token_texts(), vec!["short"]);
    assert_eq!(MaskKind::Ip.placeholder(), "<IP>");
}

// The general failure classes of issue 19, each with synthetic lines (no LogHub sample text).

/// The final template text of every line after mining them all in order.
fn final_texts(lines: &[String]) -> Vec<String> {
    let mut miner = TemplateMiner::default();
    let ids: Vec<TemplateId> = lines
        .iter()
        .map(|line| miner.add_line(line).template_id)
        .collect();
    ids.into_iter()
        .map(|id| template_text_of(&miner, miner.resolve_id(id).unwrap_or(id)))
        .collect()
}

#[test]
fn a_constant_trailing_word_keeps_two_events_apart_and_many_values_make_it_a_variable() {
    // GIVEN two events that differ only in a trailing component name, each repeated with its
    // numbers varying.
    let two_components: Vec<String> = (0..40)
        .map(|index| {
            let component = if index % 2 == 0 {
                "scheduler"
            } else {
                "indexer"
            };
            format!(
                "Request {index} served in {} ms by worker {component}",
                index * 3
            )
        })
        .collect();
    // WHEN they are mined THEN each component keeps its own template, word included.
    let texts = final_texts(&two_components);
    assert_eq!(
        texts[0],
        "Request <NUM> served in <DUR> by worker scheduler"
    );
    assert_eq!(texts[1], "Request <NUM> served in <DUR> by worker indexer");
    // GIVEN the same message with the trailing word taking many values, THEN it is one template.
    let names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let many_values: Vec<String> = (0..30)
        .map(|index| {
            format!(
                "Request {index} served in {} ms by worker {}",
                index * 3,
                names[index % names.len()]
            )
        })
        .collect();
    let texts = final_texts(&many_values);
    assert!(
        texts
            .iter()
            .all(|text| text == "Request <NUM> served in <DUR> by worker <*>"),
        "{texts:?}"
    );
}

#[test]
fn key_value_lists_with_hex_and_decimal_values_of_any_length_share_one_template() {
    // GIVEN register dumps whose values are hex numbers of different lengths: some start with a
    // letter, some with a digit, some happen to have no hex letter at all.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    // Values without any decimal digit ("ff") are left out: they cannot be told from words.
    let mut value = || loop {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let width = 1 + (state % 8) as u32;
        let text = format!("{:x}", (state >> 8) % 16u64.pow(width));
        if text.bytes().any(|byte| byte.is_ascii_digit()) {
            return text;
        }
    };
    let lines: Vec<String> = (0..60)
        .map(|_| {
            format!(
                "register dump pc={} sp={} lr={} flags={} count={}",
                value(),
                value(),
                value(),
                value(),
                value().len() * 1000 + 7
            )
        })
        .collect();
    // WHEN they are mined THEN every line has the same template, with every value masked.
    let texts = final_texts(&lines);
    assert!(
        texts.iter().all(|text| *text == texts[0]),
        "{:?}",
        texts.iter().collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(
        texts[0],
        "register dump pc=<NUM> sp=<NUM> lr=<NUM> flags=<NUM> count=<NUM>"
    );
}

#[test]
fn quoted_values_with_spaces_do_not_change_a_line_shape() {
    // GIVEN one event whose quoted value has one, two or three words.
    let people = [
        "\"Alice\"",
        "\"John Smith\"",
        "\"Mary Ann Lee\"",
        "'Bob Stone'",
    ];
    let lines: Vec<String> = (0..20)
        .map(|index| {
            format!(
                "Profile {} updated by admin in {index} ms",
                people[index % people.len()]
            )
        })
        .collect();
    // WHEN mined THEN one template, the quoted value as one varying position.
    let texts = final_texts(&lines);
    assert!(
        texts
            .iter()
            .all(|text| text == "Profile <*> updated by admin in <DUR>"),
        "{texts:?}"
    );
}

#[test]
fn parenthesised_names_of_varying_token_counts_do_not_change_a_line_shape() {
    // GIVEN one event naming an application in parentheses, in one to three words.
    let applications = [
        "(Mail)",
        "(Google Chrome)",
        "(Microsoft Word Helper)",
        "(Terminal)",
    ];
    let lines: Vec<String> = (0..20)
        .map(|index| {
            format!(
                "Launched application {} with pid {} after {index} ms",
                applications[index % applications.len()],
                4000 + index
            )
        })
        .collect();
    // WHEN mined THEN one template.
    let texts = final_texts(&lines);
    assert!(
        texts
            .iter()
            .all(|text| text == "Launched application <*> with pid <NUM> after <DUR>"),
        "{texts:?}"
    );
    // A parenthesised or bracketed group that is always the same stays visible as fixed text.
    let constant: Vec<String> = (0..5)
        .map(|index| format!("Registered handlers for [TERM, HUP, INT] in {index} ms"))
        .collect();
    assert_eq!(
        final_texts(&constant)[0],
        "Registered handlers for [TERM, HUP, INT] in <DUR>"
    );
}

/// Raw lines in common header layouts, each with the message its header carries.
const HEADERED_LINES: &[(&str, &str)] = &[
    // syslog: timestamp, host, program[pid]:
    (
        "Mar  3 07:12:44 web-7 sshd[2211]: Accepted publickey for deploy from 10.1.2.3 port 5050 ssh2",
        "Accepted publickey for deploy from 10.1.2.3 port 5050 ssh2",
    ),
    (
        "Mar 13 17:02:09 gateway cron(pam_unix)[31001]: session closed for user backup",
        "session closed for user backup",
    ),
    // log4j / logback: date, time, level, thread, logger:
    (
        "2023-04-01 10:00:00,001 INFO [main] org.example.server.Bootstrap: Listening on port 8080",
        "Listening on port 8080",
    ),
    (
        "2023-04-01 10:00:00,001 WARN  [pool-2-thread-7] o.e.cache.Evictor - Evicted 12 entries",
        "Evicted 12 entries",
    ),
    // Python logging: time - logger - level - message
    (
        "2023-04-01 10:00:00,123 - billing.worker - ERROR - Charge failed for order 991",
        "Charge failed for order 991",
    ),
    // Spring Boot
    (
        "2023-04-01T10:00:00.123Z  INFO 1 --- [           main] c.e.shop.ShopApplication     : Started ShopApplication in 3.2 seconds",
        "Started ShopApplication in 3.2 seconds",
    ),
    // AWS Lambda (Node.js and Python runtimes)
    (
        "2023-04-01T10:00:00.123Z\t6f1c2a9e-3b4d-4c5e-8f90-a1b2c3d4e5f6\tINFO\tCart saved for customer 17",
        "Cart saved for customer 17",
    ),
    (
        "[ERROR]\t2023-04-01T10:00:00.123Z\t6f1c2a9e-3b4d-4c5e-8f90-a1b2c3d4e5f6\tTimeout calling inventory after 3000 ms",
        "Timeout calling inventory after 3000 ms",
    ),
    // Android logcat: date, time, pid, tid, level letter, tag:
    (
        "04-01 10:00:00.123  1702  2395 D PowerManager: Screen turned off by user",
        "Screen turned off by user",
    ),
    // Apache error log: bracketed timestamp and level
    (
        "[Sat Apr 01 10:00:00 2023] [notice] Apache configured -- resuming normal operations",
        "Apache configured -- resuming normal operations",
    ),
    // Go's log package: date and time only
    (
        "2023/04/01 10:00:00 worker 3 finished batch",
        "worker 3 finished batch",
    ),
    // pipe-separated fields
    (
        "20230401-10:00:00:123|Sync_Manager|4411|onSyncFinished 12 records",
        "onSyncFinished 12 records",
    ),
    // epoch seconds, node names and a component before the level
    (
        "- 1680343200 2023.04.01 node-17 2023-04-01-10.00.00.123456 node-17 RAS KERNEL INFO cache parity error corrected",
        "cache parity error corrected",
    ),
    // a program name, an optional tag and a dash
    (
        "[04.01 10:00:00] updater.exe *64 - mirror.example.org:443 open through proxy",
        "mirror.example.org:443 open through proxy",
    ),
    // an access log: client address, two empty fields, bracketed time
    (
        "10.0.0.1 - - [01/Apr/2023:10:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 612",
        "\"GET /index.html HTTP/1.1\" 200 612",
    ),
    // a record id, a node, a component and a state before epoch seconds (two long numbers: either
    // alone could be a count)
    (
        "251021 node-17 unix.hw state_change.unavailable 1680343200 1 Component State Change: fan failed",
        "Component State Change: fan failed",
    ),
    // Zookeeper-style: level, bracketed thread with nested brackets, dash
    (
        "2023-04-01 10:00:00,123 - INFO  [Worker[id=3]/0.0.0.0:2181:Election@77] - Notification time out: 800",
        "Notification time out: 800",
    ),
];

#[test]
fn a_raw_line_header_is_set_aside_in_common_layouts() {
    for (raw, message) in HEADERED_LINES {
        let start = message_start(raw);
        assert_eq!(raw.get(start..), Some(*message), "header of {raw:?}");
        // THEN mining the raw line gives the same template as mining the message alone.
        let mut from_raw = TemplateMiner::default();
        let mut from_message = TemplateMiner::default();
        assert_eq!(
            from_raw.add_line(raw).template_id,
            from_message.add_line(message).template_id,
            "{raw:?}"
        );
    }
}

#[test]
fn a_message_without_a_header_keeps_its_first_words() {
    // Messages (the Content column, or CloudWatch events without a timestamp prefix) start with
    // words, names or numbers that belong to the message and must stay in the template.
    for message in [
        "Disconnecting: Too many authentication failures for admin [preauth]",
        "input_userauth_request: invalid user test [preauth]",
        "1 ddr errors(s) detected and corrected on rank 0",
        "[client 10.0.0.1] Directory index forbidden by rule: /var/www/",
        "START RequestId: 6f1c2a9e-3b4d-4c5e-8f90-a1b2c3d4e5f6 Version: $LATEST",
        "ERROR: relation \"orders\" does not exist",
        "- connection reset by peer",
        "10.0.0.7:50010 Served block blk_1 to /10.0.0.8",
        "1365301360 double-hummer alignment exceptions",
        "",
    ] {
        assert_eq!(message_start(message), 0, "{message:?}");
    }
    // A line that is nothing but a header is kept whole rather than mined as an empty message.
    assert_eq!(message_start("2023-04-01 10:00:00,001 INFO"), 0);
}

#[test]
fn a_miner_rebuilt_from_its_state_sets_headers_aside_too() {
    // The log analyzer rebuilds its miner from stored templates on every run (with the default
    // settings), then mines CloudWatch messages with add_line; raw lines must keep matching.
    let mut miner = TemplateMiner::default();
    let first = miner.add_line("2023-04-01 10:00:00,001 INFO [main] o.e.Worker: Batch 7 done");
    let state = miner.save_state();
    let mut restored = TemplateMiner::from_state(&state).unwrap_or_default();
    let again = restored.add_line("2023-04-02 23:59:59,999 WARN [pool-1] o.e.Worker: Batch 8 done");
    assert!(!again.is_new);
    assert_eq!(again.template_id, first.template_id);
    assert_eq!(
        template_text_of(&restored, again.template_id),
        "Batch <NUM> done"
    );
}

proptest::proptest! {
    #[test]
    fn any_line_has_a_message_start_on_a_character_boundary_and_mines_without_panicking(
        fields in proptest::collection::vec(
            proptest::prop_oneof![
                "[0-9]{1,12}",
                "[0-9:./ -]{1,20}",
                "[\\[\\](){}<>\"'|:=-]{1,4}",
                "(INFO|warn|D|Jun|sshd\\[1\\]:|a=1f|x.y:)",
                "\\PC{0,8}",
            ],
            0..16,
        )
    ) {
        let line = fields.join(" ");
        let start = message_start(&line);
        proptest::prop_assert!(line.is_char_boundary(start));
        proptest::prop_assert!(start < line.len() || start == 0);
        let mut miner = TemplateMiner::default();
        let learned = miner.add_line(&line);
        let again = miner.add_line(&line);
        proptest::prop_assert!(!again.is_new);
        proptest::prop_assert_eq!(miner.match_line(&line), Some(again.template_id));
        proptest::prop_assert_eq!(miner.resolve_id(learned.template_id), Some(again.template_id));
    }
}
