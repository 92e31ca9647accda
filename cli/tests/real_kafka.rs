//! `odradek produce` and `odradek perf` as processes against a real Kafka 4.1: records read
//! back with Kafka's own consumer, a failing run's exit code and summary.
//!
//! Skipped unless `ODRADEK_KAFKA=1` (`cargo xtask test` sets it).

use odradek_tests::kafka::{self, Version};
use std::io::Write;
use std::process::{Command, Stdio};

fn odradek() -> Command {
    Command::new(env!("CARGO_BIN_EXE_odradek"))
}

#[test]
fn produce_lines_with_keys_headers_and_partition_then_read_back() {
    if !kafka::should_run("produce_lines_with_keys_headers_and_partition_then_read_back") {
        return;
    }
    let cluster = kafka::shared(Version::V4_1).unwrap();
    cluster.create_topic("cli-produce", 3, 1, &[]).unwrap();
    let mut child = odradek()
        .args(["produce", "-b", &cluster.bootstrap(), "-t", "cli-produce"])
        .args([
            "-K",
            ":",
            "-H",
            "source=cli",
            "-p",
            "2",
            "-X",
            "linger.ms=1",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"k1:v1\nno key here\r\n\nk3:v:3")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 records: 3 delivered, 0 failed"),
        "{stderr}"
    );

    let read = cluster.consume_all("cli-produce", 3).unwrap();
    let got: Vec<_> = read
        .iter()
        .map(|r| {
            (
                r.partition,
                r.key.clone(),
                r.value.clone(),
                r.headers.clone(),
            )
        })
        .collect();
    let h = vec![("source".to_owned(), Some(b"cli".to_vec()))];
    assert_eq!(
        got,
        [
            (2, Some(b"k1".to_vec()), Some(b"v1".to_vec()), h.clone()),
            (2, None, Some(b"no key here".to_vec()), h.clone()),
            (2, Some(b"k3".to_vec()), Some(b"v:3".to_vec()), h),
        ]
    );
}

#[test]
fn produce_exits_non_zero_with_a_summary_when_records_fail() {
    if !kafka::should_run("produce_exits_non_zero_with_a_summary_when_records_fail") {
        return;
    }
    let cluster = kafka::shared(Version::V4_1).unwrap();
    cluster.create_topic("cli-fail", 1, 1, &[]).unwrap();
    let dir = std::env::temp_dir().join(format!("odradek-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("in.txt");
    std::fs::write(&file, "a\nb\n").unwrap();
    // Partition 5 does not exist: every record fails (unknown partition), fast.
    let out = odradek()
        .args([
            "produce",
            "-b",
            &cluster.bootstrap(),
            "-t",
            "cli-fail",
            "-p",
            "5",
        ])
        .args(["-X", "delivery.timeout.ms=10000", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 records: 0 delivered, 2 failed"),
        "{stderr}"
    );
    assert!(stderr.contains("line 1:"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();

    // A bad setting is a usage error naming the key.
    let out = odradek()
        .args(["produce", "-b", &cluster.bootstrap(), "-t", "cli-fail"])
        .args(["-X", "acks=2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acks=\"2\""));
}

#[test]
fn perf_on_every_runtime_prints_the_java_style_final_line() {
    if !kafka::should_run("perf_on_every_runtime_prints_the_java_style_final_line") {
        return;
    }
    let cluster = kafka::shared(Version::V4_1).unwrap();
    cluster.create_topic("cli-perf", 3, 1, &[]).unwrap();
    for runtime in ["tokio", "async-std", "mio"] {
        let out = odradek()
            .args(["perf", "--topic", "cli-perf", "--num-records", "20000"])
            .args([
                "--record-size",
                "100",
                "--throughput",
                "-1",
                "--runtime",
                runtime,
            ])
            .args([
                "--producer-props",
                &format!("bootstrap.servers={}", cluster.bootstrap()),
            ])
            .arg("acks=all")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{runtime}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("20000 records sent, "),
            "{runtime}: {last}"
        );
        for part in [
            "records/sec",
            "MB/sec",
            "ms avg latency",
            "ms max latency",
            "ms 50th",
            "ms 99th",
        ] {
            assert!(last.contains(part), "{runtime}: {last}");
        }
    }
    let read = cluster.consume_all("cli-perf", 60_000).unwrap();
    assert_eq!(read.len(), 60_000);
    assert!(read
        .iter()
        .all(|r| r.key.is_none() && r.value.as_ref().map(Vec::len) == Some(100)));
}
