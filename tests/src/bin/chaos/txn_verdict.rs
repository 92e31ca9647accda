//! The orchestrator's side of a transactional run: where the transaction coordinator is (the
//! odd kills' victim), and the verdict: the producer's transactions against what Kafka's Java
//! consumer reads back with `isolation.level=read_committed`.

use crate::options::{Mode, Options};
use odradek_tests::chaos;
use odradek_tests::chaos_txn::{self, TxnEnd};
use odradek_tests::kafka::KafkaCluster;
use odradek_tests::Runtime;
use std::collections::HashMap;
use std::time::Duration;

/// Kafka's transaction log, whose partition leaders are the transaction coordinators.
pub(crate) const TXN_STATE_TOPIC: &str = "__transaction_state";

/// The node coordinating the transactions of the producer writing `topic`: the leader of the
/// `__transaction_state` partition its `transactional.id` hashes to.
pub(crate) fn coordinator_node(cluster: &KafkaCluster, topic: &str) -> Result<u32, String> {
    let parts = cluster
        .partitions(TXN_STATE_TOPIC, None)
        .map_err(|e| format!("metadata of {TXN_STATE_TOPIC}: {e}"))?;
    let id = chaos_txn::transactional_id(topic);
    let index = chaos_txn::coordinator_partition(&id, parts.len() as i32);
    let p = parts
        .iter()
        .find(|p| p.index == index)
        .ok_or_else(|| format!("{TXN_STATE_TOPIC} has no partition {index}"))?;
    u32::try_from(p.leader).map_err(|_| format!("{TXN_STATE_TOPIC}-{index} has no leader"))
}

/// Reads the run's transactions and the topic back (`read_committed`) and judges them: the
/// chaos line and what is wrong with it, if anything.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verdict_txn(
    cluster: &KafkaCluster,
    rt: Runtime,
    o: &Options,
    size: u64,
    topic: &str,
    out: &std::path::Path,
    kills: u32,
    faults: &str,
) -> Result<(String, Vec<String>), String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("reading {out:?}: {e}"))?;
    let _ = std::fs::remove_file(out);
    let report = chaos_txn::parse_txn_report(&text)?;
    let committed: u64 = report
        .txns
        .iter()
        .filter(|t| t.end == TxnEnd::Committed)
        .map(|t| t.count)
        .sum();
    let consumed = cluster
        .consume_topics_isolated(&[topic], committed as usize, Duration::from_secs(180), true)
        .map_err(|e| format!("reading {topic} back read_committed: {e}"))?
        .remove(topic)
        .unwrap_or_default();
    let mut log: HashMap<i32, Vec<(i64, Option<u64>)>> = HashMap::new();
    for r in &consumed {
        let seq = r.value.as_deref().and_then(chaos::parse_seq);
        log.entry(r.partition).or_default().push((r.offset, seq));
    }
    let log = log
        .into_iter()
        .map(|(p, mut records)| {
            records.sort_by_key(|&(offset, _)| offset);
            (p, records.into_iter().map(|(_, seq)| seq).collect())
        })
        .collect();
    let fig = chaos_txn::analyse_txns(&report.txns, &log);
    let peak = report.peak_rss_kib * 1024;
    let mode = match o.mode {
        Mode::Kill => String::new(),
        Mode::Stop => "+sigstop".into(),
        m => format!("+{}", m.name()),
    };
    let what = if faults.is_empty() {
        format!("{kills} kills")
    } else {
        faults.to_owned()
    };
    let line = format!(
        "chaos txn: {}{mode} {} records in transactions of {size}, {what}, {fig}, producers {}, \
         peak rss {} MiB",
        rt.name(),
        o.records,
        report.producers,
        peak.div_ceil(1 << 20)
    );
    let mut problems = Vec::new();
    if !fig.clean() {
        problems.push(format!("transactions broken or none committed: {line}"));
    }
    if report.misreported > 0 {
        problems.push(format!(
            "{} records reported failed in transactions whose commit returned Ok",
            report.misreported
        ));
    }
    crate::orchestrate::run_problems(o, kills, peak, report.buffer_memory, &mut problems);
    Ok((line, problems))
}
