//! The bench's pieces that need no broker.

use super::*;

#[test]
fn every_producer_gets_the_same_distinct_values_of_the_size_asked() {
    let dir = std::env::temp_dir().join(format!("odradek-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let (payloads, input) = (dir.join("p.txt"), dir.join("in.txt"));
    for size in [1, 100, 1024] {
        write_payloads(&payloads, size).unwrap();
        let text = fs::read_to_string(&payloads).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, PAYLOADS);
        assert!(lines.iter().all(|l| l.len() == size), "size {size}");
        if size >= 100 {
            let distinct: std::collections::HashSet<_> = lines.iter().collect();
            assert_eq!(distinct.len(), lines.len());
        }
        write_input(&input, &payloads, PAYLOADS + 3, 0).unwrap();
        let kcat = fs::read_to_string(&input).unwrap();
        let kcat: Vec<&str> = kcat.lines().collect();
        assert_eq!(kcat.len() as u64, PAYLOADS + 3);
        assert_eq!(&kcat[..PAYLOADS as usize], &lines[..]);
        assert_eq!(&kcat[PAYLOADS as usize..], &lines[..3]);
        // Keyed: `key:value`, key i % keys, the values as without keys.
        write_input(&input, &payloads, PAYLOADS + 3, 7).unwrap();
        let keyed = fs::read_to_string(&input).unwrap();
        for (i, line) in keyed.lines().enumerate() {
            let (k, v) = line.split_once(':').unwrap();
            assert_eq!(k, key_of(i as u64 % 7));
            assert_eq!(v, kcat[i]);
        }
        assert_eq!(keyed.lines().count(), kcat.len());
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keys_match_odradek_perf_and_the_java_tool() {
    // The same spelling as `odradek perf`'s key_of and KeyedPerf.key (8 digits, padded).
    assert_eq!(key_of(0), "00000000");
    assert_eq!(key_of(99_999), "00099999");
    assert_eq!(key_of(123_456_789), "123456789");
    let java = fs::read_to_string(kafka::workspace_root().join("kafka/KeyedPerf.java")).unwrap();
    assert!(java.contains("Math.max(8, digits.length())"));
}

#[test]
fn cases_from_partition_and_key_lists() {
    let c = |p, k| Case {
        partitions: p,
        keys: k,
    };
    assert_eq!(parse_cases("6", "0").unwrap(), [c(6, 0)]);
    assert_eq!(
        parse_cases("6,1000,5000", "0,100000,100000").unwrap(),
        [c(6, 0), c(1000, 100_000), c(5000, 100_000)]
    );
    assert_eq!(
        parse_cases("6, 1000", "50").unwrap(),
        [c(6, 50), c(1000, 50)]
    );
    assert!(parse_cases("6,1000", "0,1,2")
        .unwrap_err()
        .contains("one per case"));
    assert!(parse_cases("6,x", "0")
        .unwrap_err()
        .contains("--partitions"));
    assert!(parse_cases("0", "0").is_err());
    assert!(parse_cases("6", "-1").is_err());
    assert_eq!(c(6, 0).goal(), Some((0.5, 1.3)));
    assert_eq!(c(5000, 100_000).goal(), Some((0.12, 5.0)));
    assert_eq!(c(6, 100).goal(), None);
    assert_eq!(c(1000, 100_000).tag(), "p1000-k100000");
}

fn sample(case: Case, producer: &str, round: u32, rps: f64, cpu: f64, rss_mib: u64) -> Sample {
    Sample {
        case,
        producer: producer.into(),
        round,
        records_per_sec: rps,
        cpu_us_per_record: cpu,
        rss_kib: rss_mib * 1024,
        wall_secs: 1e6 / rps,
    }
}

#[test]
fn slow_runs_are_under_half_the_median_of_odradek_runs() {
    let case = Case {
        partitions: 5000,
        keys: 100_000,
    };
    let runs = [
        sample(case, "kcat", 1, 10_000.0, 11.0, 300),
        sample(case, "odradek-tokio", 1, 180_000.0, 4.6, 200),
        sample(case, "odradek-tokio", 2, 170_000.0, 4.6, 200),
        sample(case, "odradek-mio", 1, 190_000.0, 4.6, 200),
        sample(case, "odradek-mio", 2, 7_800.0, 6.0, 200),
    ];
    let refs: Vec<&Sample> = runs.iter().collect();
    let slow = slow_runs(&refs);
    // Median of the odradek runs: 175k; kcat is never flagged.
    assert_eq!(slow.len(), 1);
    assert_eq!(
        (slow[0].producer.as_str(), slow[0].round),
        ("odradek-mio", 2)
    );
    assert!(slow_runs(&refs[..1]).is_empty());
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0]), Some(2.5));
    assert_eq!(median(&[]), None);
}

#[test]
fn report_has_goals_rss_checks_and_slow_runs_per_case() {
    let six = Case {
        partitions: 6,
        keys: 0,
    };
    let many = Case {
        partitions: 5000,
        keys: 100_000,
    };
    let s = Settings {
        records: 1_000_000,
        warmup: 1000,
        rounds: 2,
        compression: "none".into(),
        record_size: 100,
        producers: vec!["kcat".into(), "odradek-tokio".into(), "odradek-mio".into()],
        cases: vec![six, many],
        txn_records: None,
    };
    let samples = [
        sample(six, "kcat", 1, 1_000_000.0, 1.0, 100),
        sample(six, "odradek-tokio", 1, 1_400_000.0, 0.4, 30),
        sample(six, "odradek-tokio", 2, 1_200_000.0, 0.6, 50),
        sample(six, "odradek-mio", 1, 1_300_000.0, 0.5, 40),
        sample(many, "kcat", 1, 100_000.0, 10.0, 300),
        sample(many, "odradek-tokio", 1, 180_000.0, 4.0, 200),
        sample(many, "odradek-mio", 1, 190_000.0, 4.5, 210),
        sample(many, "odradek-mio", 2, 8_000.0, 6.0, 220),
    ];
    let r = report(&s, &samples);
    assert!(r.contains("enable.idempotence=true"), "{r}");
    assert!(r.contains("buffer.memory=33554432"), "{r}");
    let six_table = &r[r.find("### 6 partitions, null keys").unwrap()..r.find("### 5000").unwrap()];
    // tokio at 6: 1.30× records/s (goal ≥ 1.30 met), CPU 0.50× (≤ 0.50 met), one run
    // over 48 MiB.
    let tokio = six_table
        .lines()
        .find(|l| l.starts_with("| odradek-tokio"))
        .unwrap();
    assert!(
        tokio.contains("| 1300k (1200k–1400k) | 1.30× | ≥ 1.30× ✓ |"),
        "{tokio}"
    );
    assert!(
        tokio.contains("| 0.50 (0.40–0.60) | 0.50× | ≤ 0.50× ✓ |"),
        "{tokio}"
    );
    assert!(tokio.contains("| FAIL (1 of 2) | none |"), "{tokio}");
    let kcat = six_table.lines().find(|l| l.starts_with("| kcat")).unwrap();
    assert!(kcat.contains("| 1.00× | – |"), "{kcat}");
    assert!(kcat.contains("| FAIL (1 of 1) | – |"), "{kcat}");
    let many_table = &r[r.find("### 5000 partitions, 100000 keys").unwrap()..];
    let mio = many_table
        .lines()
        .find(|l| l.starts_with("| odradek-mio"))
        .unwrap();
    // 99k records/s mean: 0.99× kcat, short of ≥ 5×; CPU 0.53×, over ≤ 0.12×.
    assert!(mio.contains("| 0.99× | ≥ 5.00× ✗ |"), "{mio}");
    assert!(mio.contains("| 0.53× | ≤ 0.12× ✗ |"), "{mio}");
    assert!(mio.contains("**round 2: 8k/s in 125 s**"), "{mio}");
    let tsv = rounds_tsv(&s.producers, samples.iter().filter(|x| x.case == many));
    assert_eq!(tsv.lines().count(), 5);
    assert_eq!(
        tsv.lines().nth(3).unwrap(),
        "odradek-mio\t1\t190000.0\t4.5000\t215040\t5.26"
    );
}

#[test]
fn transactional_runs_get_their_own_table_and_no_goal() {
    let six = Case {
        partitions: 6,
        keys: 0,
    };
    let s = Settings {
        records: 1_000_000,
        warmup: 0,
        rounds: 1,
        compression: "none".into(),
        record_size: 100,
        producers: vec![
            "kcat".into(),
            "odradek-tokio".into(),
            "odradek-tokio+txn".into(),
        ],
        cases: vec![six],
        txn_records: Some(1000),
    };
    let samples = [
        sample(six, "kcat", 1, 1_000_000.0, 1.0, 30),
        sample(six, "odradek-tokio", 1, 1_400_000.0, 0.4, 30),
        // Far under half the median of the idempotent runs: not a slow run, not a goal.
        sample(six, "odradek-tokio+txn", 1, 350_000.0, 0.6, 20),
    ];
    let r = report(&s, &samples);
    let main = r
        .lines()
        .find(|l| l.starts_with("| odradek-tokio+txn |"))
        .unwrap();
    assert!(main.contains("| 0.35× | – |"), "{main}");
    assert!(main.ends_with("| pass | – |"), "{main}");
    let txn = &r[r
        .find("Transactional, 1000 records per transaction")
        .unwrap()..];
    let row = txn
        .lines()
        .find(|l| l.starts_with("| odradek-tokio+txn |"))
        .unwrap();
    assert_eq!(
        row,
        "| odradek-tokio+txn | 350k | 0.25× | 0.60 | 1.50× | 20 |"
    );
}

#[test]
fn parses_time_and_final_lines() {
    assert_eq!(
        parse_time("3.20 1.50 0.25 51200\n"),
        Some((1.5, 0.25, 51200))
    );
    assert_eq!(
        parse_time("Command exited with non-zero status 1\n3.20 1.50 0.25 51200\n"),
        Some((1.5, 0.25, 51200))
    );
    assert_eq!(parse_time("garbage"), None);
    let java = "500000 records sent, 100000.0 records/sec (9.54 MB/sec), 1.0 ms avg latency, 10.0 ms max latency.\n\
        1000000 records sent, 170184.315174 records/sec (16.23 MB/sec), 96.01 ms avg latency, 420.00 ms max latency, 80 ms 50th, 250 ms 95th, 380 ms 99th, 410 ms 99.9th.\n";
    assert_eq!(parse_records_per_sec(java), Some(170184.315174));
    assert_eq!(parse_records_per_sec("nothing"), None);
}
