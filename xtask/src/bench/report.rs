//! The figures of every run: the rounds files, the slow-run check, and the report's
//! tables.

use super::*;

/// One case's rounds file, for `odradek bench-chart` (which reads the first five columns).
pub(super) fn rounds_tsv<'a>(
    producers: &[String],
    samples: impl Iterator<Item = &'a Sample>,
) -> String {
    let samples: Vec<&Sample> = samples.collect();
    let mut tsv =
        String::from("producer\tround\trecords_per_sec\tcpu_us_per_record\trss_kib\twall_s\n");
    for p in producers {
        for x in samples.iter().filter(|x| &x.producer == p) {
            let _ = writeln!(
                tsv,
                "{}\t{}\t{:.1}\t{:.4}\t{}\t{:.2}",
                x.producer, x.round, x.records_per_sec, x.cpu_us_per_record, x.rss_kib, x.wall_secs
            );
        }
    }
    tsv
}

/// (min, mean, max).
pub(super) fn stats(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, v.iter().sum::<f64>() / v.len() as f64, max)
}

pub(super) fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// An idempotent odradek run (the goals and the slow-run check are set for those).
pub(super) fn is_odradek(producer: &str) -> bool {
    producer.starts_with("odradek-") && !producer.ends_with(TXN_SUFFIX)
}

/// The stall detector of issue 22 ("no run slower than half the median of its case"): the
/// odradek runs of one case whose records/s is under half the median of that case's odradek
/// runs (the goal is set for odradek's runtimes; kcat and Java are the yardsticks).
pub(super) fn slow_runs<'a>(case: &[&'a Sample]) -> Vec<&'a Sample> {
    let rps: Vec<f64> = case
        .iter()
        .filter(|x| is_odradek(&x.producer))
        .map(|x| x.records_per_sec)
        .collect();
    let Some(m) = median(&rps) else {
        return Vec::new();
    };
    case.iter()
        .copied()
        .filter(|x| is_odradek(&x.producer) && x.records_per_sec < m / 2.0)
        .collect()
}

pub(super) fn report(s: &Settings, samples: &[Sample]) -> String {
    let budget_mib = (BUFFER_MEMORY + RSS_SLACK) / (1024 * 1024);
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{} records of {} B, compression {}, every producer with acks=all, enable.idempotence=true, \
         linger.ms=5, batch.size=16384 and buffer.memory={} (kcat: queue.buffering.max.kbytes={}, \
         queue.buffering.max.messages left at 100000); each record's value (and key) freshly \
         allocated; one local Kafka 4.1 node, a fresh topic per case, warmed up by {} unmeasured \
         records (odradek-tokio); {} rounds, producers alternating. Mean (min–max) over the rounds; ratios are to kcat's mean; RSS is the \
         largest peak, checked against buffer.memory + 16 MiB = {budget_mib} MiB. Goal: issue 22's \
         ratio for the odradek runtimes (✓ met, ✗ not). Slow: a run under half the median \
         records/s of the case's odradek runs.\n",
        s.records,
        s.record_size,
        s.compression,
        BUFFER_MEMORY,
        BUFFER_MEMORY / 1024,
        s.warmup,
        s.rounds
    );
    for case in &s.cases {
        let runs: Vec<&Sample> = samples.iter().filter(|x| x.case == *case).collect();
        r.push_str(&case_table(s, *case, &runs));
        r.push('\n');
        if let Some(n) = s.txn_records {
            r.push_str(&txn_table(s, n, &runs));
            r.push('\n');
        }
    }
    r
}

pub(super) fn case_table(s: &Settings, case: Case, runs: &[&Sample]) -> String {
    let of = |p: &str, f: fn(&Sample) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|x| x.producer == p)
            .map(|x| f(x))
            .collect()
    };
    let kcat_rps = stats(&of("kcat", |x| x.records_per_sec)).1;
    let kcat_cpu = stats(&of("kcat", |x| x.cpu_us_per_record)).1;
    let kcat_rss = stats(&of("kcat", |x| x.rss_kib as f64)).2;
    let known = |base: f64| base.is_finite() && base > 0.0;
    let ratio = |v: f64, base: f64| {
        if known(base) {
            format!("{:.2}×", v / base)
        } else {
            "–".into()
        }
    };
    // "≤ 0.50× ✓": the goal and whether the mean meets it.
    let goal = |v: f64, base: f64, limit: Option<f64>, at_most: bool| match limit {
        Some(l) if known(base) => {
            let met = if at_most {
                v / base <= l
            } else {
                v / base >= l
            };
            let sign = if at_most { "≤" } else { "≥" };
            format!("{sign} {l:.2}× {}", if met { "✓" } else { "✗" })
        }
        Some(l) => format!("{} {l:.2}×", if at_most { "≤" } else { "≥" }),
        None => "–".into(),
    };
    let slow = slow_runs(runs);
    let budget_kib = (BUFFER_MEMORY + RSS_SLACK) / 1024;
    let mut r = String::new();
    let _ = writeln!(
        r,
        "### {} partitions, {}\n",
        case.partitions,
        keys_text(case.keys)
    );
    if case.goal().is_none() {
        let _ = writeln!(r, "(issue 22 sets no goal for this case)\n");
    }
    let _ = writeln!(
        r,
        "| producer | records/s | ×kcat | goal | CPU µs/record | ×kcat | goal | peak RSS MiB | ×kcat | ≤ {} MiB | slow runs |",
        budget_kib / 1024
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &s.producers {
        let rps = stats(&of(p, |x| x.records_per_sec));
        let cpu = stats(&of(p, |x| x.cpu_us_per_record));
        let rss = stats(&of(p, |x| x.rss_kib as f64));
        if !rps.1.is_finite() {
            continue;
        }
        let g = case.goal().filter(|_| is_odradek(p));
        let over = runs
            .iter()
            .filter(|x| &x.producer == p && x.rss_kib > budget_kib)
            .count();
        let rss_check = if over == 0 {
            "pass".to_owned()
        } else {
            format!("FAIL ({over} of {})", of(p, |x| x.rss_kib as f64).len())
        };
        let slow: Vec<String> = slow
            .iter()
            .filter(|x| &x.producer == p)
            .map(|x| {
                format!(
                    "round {}: {:.0}k/s in {:.0} s",
                    x.round,
                    x.records_per_sec / 1e3,
                    x.wall_secs
                )
            })
            .collect();
        let slow = match (is_odradek(p), slow.is_empty()) {
            (false, _) => "–".to_owned(),
            (true, true) => "none".to_owned(),
            (true, false) => format!("**{}**", slow.join("; ")),
        };
        let _ = writeln!(
            r,
            "| {p} | {:.0}k ({:.0}k–{:.0}k) | {} | {} | {:.2} ({:.2}–{:.2}) | {} | {} | {:.0} | {} | {rss_check} | {slow} |",
            rps.1 / 1e3,
            rps.0 / 1e3,
            rps.2 / 1e3,
            ratio(rps.1, kcat_rps),
            goal(rps.1, kcat_rps, g.map(|g| g.1), false),
            cpu.1,
            cpu.0,
            cpu.2,
            ratio(cpu.1, kcat_cpu),
            goal(cpu.1, kcat_cpu, g.map(|g| g.0), true),
            rss.2 / 1024.0,
            ratio(rss.2, kcat_rss),
        );
    }
    r
}

/// The transactional runs beside the idempotent ones of the same producer: means, and ratios
/// to the idempotent mean.
pub(super) fn txn_table(s: &Settings, n: u64, runs: &[&Sample]) -> String {
    let mean = |p: &str, f: fn(&Sample) -> f64| {
        stats(
            &runs
                .iter()
                .filter(|x| x.producer == p)
                .map(|x| f(x))
                .collect::<Vec<_>>(),
        )
    };
    let mut r = format!(
        "Transactional, {n} records per transaction (begin, {n} sends, commit), against the \
         same producer idempotent:\n\n| producer | records/s | ×idempotent | CPU µs/record | \
         ×idempotent | peak RSS MiB |\n|---|---|---|---|---|---|\n"
    );
    for p in s.producers.iter().filter(|p| p.ends_with(TXN_SUFFIX)) {
        let base = p.trim_end_matches(TXN_SUFFIX);
        let (rps, cpu, rss) = (
            mean(p, |x| x.records_per_sec),
            mean(p, |x| x.cpu_us_per_record),
            mean(p, |x| x.rss_kib as f64),
        );
        if !rps.1.is_finite() {
            continue;
        }
        let (base_rps, base_cpu) = (
            mean(base, |x| x.records_per_sec).1,
            mean(base, |x| x.cpu_us_per_record).1,
        );
        let ratio = |v: f64, b: f64| {
            if b.is_finite() && b > 0.0 {
                format!("{:.2}×", v / b)
            } else {
                "–".into()
            }
        };
        let _ = writeln!(
            r,
            "| {p} | {:.0}k | {} | {:.2} | {} | {:.0} |",
            rps.1 / 1e3,
            ratio(rps.1, base_rps),
            cpu.1,
            ratio(cpu.1, base_cpu),
            rss.2 / 1024.0
        );
    }
    r
}
