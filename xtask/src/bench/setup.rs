//! What the bench needs before it runs: the topic, the Java tool compiled, the tools
//! installed, the payloads and kcat's input.

use super::*;

/// Creates (`Some(partitions)`) or deletes a topic with Kafka's TopicCommand.
pub(super) fn topic_command(
    bootstrap: &str,
    topic: &str,
    create: Option<i32>,
) -> Result<(), String> {
    let mut c = kafka::java_tool(Version::V4_1, "org.apache.kafka.tools.TopicCommand");
    c.args(["--bootstrap-server", bootstrap, "--topic", topic]);
    match create {
        Some(p) => c.args(["--create", "--partitions", &p.to_string()]),
        None => c.arg("--delete"),
    };
    let out = c
        .output()
        .map_err(|e| format!("TopicCommand: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "TopicCommand {topic} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Compiles `kafka/KeyedPerf.java` against the Kafka 4.1 jars into `target/bench/java`
/// (again only when the source changed); returns that folder.
pub(super) fn compile_java_tool(out_dir: &Path) -> Result<PathBuf, String> {
    let src = kafka::workspace_root().join("kafka").join("KeyedPerf.java");
    let classes = out_dir.join("java");
    let copy = classes.join("KeyedPerf.java.built");
    let source = fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    if classes.join("KeyedPerf.class").is_file() && fs::read(&copy).ok() == Some(source.clone()) {
        return Ok(classes);
    }
    ensure_tool("default-jdk-headless", kafka::command_exists("javac"))?;
    eprintln!("==> javac kafka/KeyedPerf.java");
    let _ = fs::remove_dir_all(&classes);
    let mut c = Command::new("javac");
    c.arg("-nowarn")
        .arg("-cp")
        .arg(format!("{}/*", kafka::lib_dir(Version::V4_1).display()))
        .arg("-d")
        .arg(&classes)
        .arg(&src);
    status(c)?;
    fs::write(&copy, &source).map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok(classes)
}

pub(super) fn keys_text(keys: u64) -> String {
    if keys == 0 {
        "null keys".into()
    } else {
        format!("{keys} keys")
    }
}

pub(super) fn ensure_tool(package: &str, present: bool) -> Result<(), String> {
    if present {
        return Ok(());
    }
    eprintln!("==> {package} is missing: apt-get update && apt-get install -y {package}");
    let mut c = Command::new("apt-get");
    c.arg("update").stdout(Stdio::null());
    status(c)?;
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-q", package]);
    status(c)
}

/// Distinct values in the payload file.
pub(super) const PAYLOADS: u64 = 10_000;

/// `PAYLOADS` lines of exactly `size` bytes: JSON-like events (an id, a user, an event name, a
/// timestamp, then words from a small vocabulary), so that compressed runs compress what a
/// real topic might hold, and every producer sends the same bytes.
pub(super) fn write_payloads(path: &Path, size: usize) -> Result<(), String> {
    const WORDS: [&str; 16] = [
        "alpha", "beta", "order", "cart", "user", "session", "item", "price", "blue", "large",
        "shipping", "delta", "review", "stock", "north", "coupon",
    ];
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(e)?);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..PAYLOADS {
        let mut line = format!(
            r#"{{"id":{i},"user":"u{:05}","event":"e{}","ts":{},"text":""#,
            next() % 50_000,
            next() % 8,
            1_700_000_000_000 + next() % 1_000_000
        );
        while line.len() < size {
            line.push_str(WORDS[(next() % 16) as usize]);
            line.push(' ');
        }
        line.truncate(size.saturating_sub(2));
        line.push_str(&r#""}"#[..size.min(2)]);
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(e)?;
    }
    w.flush().map_err(e)
}

/// The key of the record numbered `n`, as `odradek perf --keys` (`key_of`) and
/// `kafka/KeyedPerf.java` build it: `n` in decimal, zero-padded to 8 digits.
pub(super) fn key_of(n: u64) -> String {
    format!("{n:08}")
}

/// kcat's stdin: the payload file's lines in turn, `records` lines in all; with `keys` > 0,
/// each line `key:value` with record `i`'s key [`key_of`]`(i % keys)` (kcat runs with `-K :`,
/// which splits at the first `:`; keys are digits and never hold one).
pub(super) fn write_input(
    path: &Path,
    payloads: &Path,
    records: u64,
    keys: u64,
) -> Result<(), String> {
    let lines = fs::read(payloads).map_err(|e| format!("{}: {e}", payloads.display()))?;
    let lines: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(e)?);
    for i in 0..records {
        if keys > 0 {
            write!(w, "{}:", key_of(i % keys)).map_err(e)?;
        }
        w.write_all(lines[(i % lines.len() as u64) as usize])
            .map_err(e)?;
    }
    w.flush().map_err(e)
}
