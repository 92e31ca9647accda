//! A real Apache Kafka for tests and for `cargo xtask kafka ...`: fetch the broker's jars from
//! Maven Central, start one or three KRaft nodes on free loopback ports, create topics, read
//! records back with Kafka's own Java client, stop everything.
//!
//! Used by `xtask` (`cargo xtask kafka ...`, `cargo xtask test`) and by `odradek-tests`
//! (which re-exports it as `odradek_tests::kafka`). Its only dependency is odradek-core, whose
//! protocol codecs it uses for the Metadata (and the wire primitives for the ListOffsets)
//! requests that tell when a topic is usable.
//!
//! Modules, re-exported at the crate root:
//!
//! - [`fetch`](mod@fetch): the broker's jars from Maven ([`fetch()`]), `java` tool commands.
//! - [`cluster`]: [`KafkaCluster`]: start, attach, restart, kill and stop nodes.
//! - [`config`]: each node's `server.properties`.
//! - [`process`]: spawning a node under its watchdog, the [`State`] file, pids and signals.
//! - [`proxy`]: [`Proxy`], a TCP proxy with delay, jitter and cut connections.
//! - [`topics`]: create topics, wait for leaders and ISR, Metadata and ListOffsets requests.
//! - [`read_back`]: records back through Kafka's Java client (RecordTool, ConsoleConsumer).
//!
//! Layout on disk (all under the workspace root, `.kafka/` is git-ignored):
//!
//! ```text
//! kafka/<ver>/pom.xml              the jars to fetch (committed)
//! kafka/<ver>/*log4j*.properties   broker and tool logging (committed)
//! kafka/RecordTool.java            the reference client, run with `java File.java` (committed)
//! .kafka/<ver>/lib/                the fetched jars
//! .kafka/<ver>/lib.pomhash         hash of the pom they were fetched for
//! .kafka/run/<name>/               one cluster: state file, per-node config, data and logs
//! ```
//!
//! Process hygiene: a cluster started with [`Lifetime::Watched`] (what tests use) runs each
//! broker under a small `bash` watchdog whose stdin is a pipe from this process. When this
//! process ends for any reason (normal exit, panic, abort, `SIGKILL`) the pipe closes and the
//! watchdog stops the broker (SIGTERM, then SIGKILL after 15 s) and deletes its data. Dropping
//! the [`KafkaCluster`] does the same and waits for it. [`Lifetime::Detached`] brokers (what
//! `cargo xtask kafka start` makes) outlive the starting process and are stopped through the
//! state file.

#![warn(missing_docs)]

pub mod cluster;
pub mod config;
pub mod fetch;
pub mod process;
pub mod proxy;
pub mod read_back;
pub mod topics;

pub use cluster::{free_ports, shared, KafkaCluster, Lifetime, Listener, Node, StartOptions};
pub use fetch::{command_exists, fetch, java_tool, Fetched};
pub use process::{
    brokers_of_run, find_processes, is_our_broker, pid_alive, signal, stop_by_name, State,
    StateNode,
};
pub use proxy::{Faults, Proxy, ProxyStats};
pub use read_back::{console_consume, parse_consumed, ConsumedRecord, ReferenceRecord};
pub use topics::{metadata_partitions, PartitionInfo, TopicSpec};

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable that turns the real-broker tests on (`ODRADEK_KAFKA=1`).
/// `cargo xtask test` sets it; a plain `cargo test` leaves it unset and those tests skip.
pub const ENABLE_ENV: &str = "ODRADEK_KAFKA";

/// The environment variable naming one `cargo xtask test` run; every broker started while it
/// is set carries it on its command line, so the run can check that none is left behind.
pub const RUN_ID_ENV: &str = "ODRADEK_RUN_ID";

/// The environment variable that sets the heap of the harness's client JVMs (`-Xmx`, default
/// `512m`): reading a million records back with RecordTool needs more.
pub const TOOL_HEAP_ENV: &str = "ODRADEK_TOOL_HEAP";

/// The environment variable that picks the Kafka version of a run that starts its own cluster
/// (the chaos run: `ODRADEK_KAFKA_VERSION=4.1 cargo xtask chaos`); unset, [`Version::NEWEST`].
pub const VERSION_ENV: &str = "ODRADEK_KAFKA_VERSION";

/// How long to wait for a broker to report that it started.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a broker gets to stop after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The log line that says a KRaft node is up (`[KafkaRaftServer nodeId=1] Kafka Server started`).
pub(crate) const STARTED_LINE: &str = "Kafka Server started";

/// Whether the real-broker tests are enabled (`ODRADEK_KAFKA=1`).
pub fn enabled() -> bool {
    std::env::var(ENABLE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// For the first line of a real-broker test: `true` if the test should run; otherwise prints
/// why it is skipped and returns `false`.
///
/// ```no_run
/// if !odradek_kafka_harness::should_run("produce_and_read_back") {
///     return;
/// }
/// ```
pub fn should_run(test: &str) -> bool {
    if enabled() {
        true
    } else {
        eprintln!(
            "skipping {test}: needs a real Kafka; run `cargo xtask test` or set {ENABLE_ENV}=1"
        );
        false
    }
}

/// A harness failure, with enough context (command, log tail) to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

pub(crate) fn io_ctx<T>(r: std::io::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| Error(format!("{}: {e}", what())))
}

/// A Kafka release line the project tests against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Kafka 4.4.0, the newest release line: RecordBatch v2 and Produce v3+ only (it still
    /// advertises Produce v0–v2 but rejects them, KIP-896).
    V4_4,
    /// Kafka 4.1.1: RecordBatch v2 and Produce v3+ only.
    V4_1,
    /// Kafka 3.9.1: the last line that still accepts Produce v0–v2 (MessageSet v0/v1).
    V3_9,
}

impl Version {
    /// Every supported version.
    pub const ALL: [Version; 3] = [Version::V4_4, Version::V4_1, Version::V3_9];

    /// The newest version: what `cargo xtask kafka start`, the demo and the chaos run use
    /// unless told otherwise.
    pub const NEWEST: Version = Version::V4_4;

    /// `"4.4"`, `"4.1"` or `"3.9"`: the folder name under `kafka/` and `.kafka/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V4_4 => "4.4",
            Version::V4_1 => "4.1",
            Version::V3_9 => "3.9",
        }
    }

    /// The full release: `"4.4.0"`, `"4.1.1"` or `"3.9.1"` (the jars' version in the pom).
    pub fn release(self) -> &'static str {
        match self {
            Version::V4_4 => "4.4.0",
            Version::V4_1 => "4.1.1",
            Version::V3_9 => "3.9.1",
        }
    }

    /// Whether this is a Kafka 4.x broker (log4j2 logging, share groups, no ZooKeeper, no
    /// Produce v0–v2).
    pub fn is_4x(self) -> bool {
        self != Version::V3_9
    }

    /// Parses `"4.4"` / `"4.1"` / `"3.9"` (also `"4.4.0"`, `"4.1.1"`, `"3.9.1"`).
    pub fn parse(s: &str) -> Result<Version> {
        match s {
            "4.4" | "4.4.0" => Ok(Version::V4_4),
            "4.1" | "4.1.1" => Ok(Version::V4_1),
            "3.9" | "3.9.1" => Ok(Version::V3_9),
            _ => err(format!(
                "unknown Kafka version {s:?} (known: 4.4, 4.1, 3.9)"
            )),
        }
    }

    /// The version named by [`VERSION_ENV`], or [`Version::NEWEST`] when it is unset; an
    /// unknown name is an error.
    pub fn from_env() -> Result<Version> {
        match std::env::var(VERSION_ENV) {
            Ok(v) if !v.is_empty() => Version::parse(&v),
            _ => Ok(Version::NEWEST),
        }
    }

    /// The option names of Kafka's console producer (`producer`) or consumer in this version.
    pub fn console_flags(self, producer: bool) -> ConsoleFlags {
        match (self, producer) {
            (Version::V4_4, _) => ConsoleFlags {
                config: "--command-config",
                property: "--command-property",
                formatter: "--formatter-property",
            },
            (_, true) => ConsoleFlags {
                config: "--producer.config",
                property: "--producer-property",
                formatter: "--property",
            },
            (_, false) => ConsoleFlags {
                config: "--consumer.config",
                property: "--consumer-property",
                formatter: "--property",
            },
        }
    }

    /// The broker's logging configuration file under `kafka/<ver>/`, and the system property
    /// that names it.
    pub(crate) fn broker_log_config(self) -> (&'static str, &'static str) {
        match self {
            Version::V4_4 | Version::V4_1 => ("log4j2.properties", "log4j2.configurationFile"),
            Version::V3_9 => ("log4j.properties", "log4j.configuration"),
        }
    }

    pub(crate) fn tools_log_config(self) -> (&'static str, &'static str) {
        match self {
            Version::V4_4 | Version::V4_1 => {
                ("tools-log4j2.properties", "log4j2.configurationFile")
            }
            Version::V3_9 => ("tools-log4j.properties", "log4j.configuration"),
        }
    }
}

/// The option names of Kafka's ConsoleProducer or ConsoleConsumer in one version
/// ([`Version::console_flags`]). Kafka 4.2 renamed them (KIP-1147); 4.4's consumer prints a
/// deprecation notice for each old name on its stdout, among the records it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleFlags {
    /// The client's properties file: `--command-config` (before 4.2: `--producer.config`,
    /// `--consumer.config`).
    pub config: &'static str,
    /// One client property: `--command-property` (before: `--producer-property`,
    /// `--consumer-property`).
    pub property: &'static str,
    /// One property of the consumer's formatter: `--formatter-property` (before: `--property`).
    pub formatter: &'static str,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The workspace root (the folder holding `kafka/` and `.kafka/`).
pub fn workspace_root() -> PathBuf {
    // Both crates that compile this file (tests/ and xtask/) sit one level below the root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `.kafka/<ver>/lib`: where the jars of `version` live once fetched.
pub fn lib_dir(version: Version) -> PathBuf {
    workspace_root()
        .join(".kafka")
        .join(version.as_str())
        .join("lib")
}

/// `.kafka/run`: where clusters keep their state, config, data and logs.
pub fn run_root() -> PathBuf {
    workspace_root().join(".kafka").join("run")
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_name_their_jars() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Ok(v));
            assert_eq!(Version::parse(v.release()), Ok(v));
            assert!(v.release().starts_with(v.as_str()), "{v}");
        }
        assert_eq!(Version::NEWEST, Version::V4_4);
        assert_eq!(Version::parse("4.4.0"), Ok(Version::V4_4));
        assert!(Version::parse("4.2").is_err());
        assert!(Version::V4_4.is_4x() && Version::V4_1.is_4x() && !Version::V3_9.is_4x());
        assert_eq!(
            Version::V4_4.broker_log_config(),
            ("log4j2.properties", "log4j2.configurationFile")
        );
        assert_eq!(
            Version::V4_4.console_flags(false).config,
            "--command-config"
        );
        assert_eq!(
            Version::V4_1.console_flags(false).config,
            "--consumer.config"
        );
        assert_eq!(
            Version::V3_9.console_flags(true).property,
            "--producer-property"
        );
        assert_eq!(Version::V4_1.console_flags(false).formatter, "--property");
        // Every version's pom is committed and names that release.
        for v in Version::ALL {
            let pom = workspace_root()
                .join("kafka")
                .join(v.as_str())
                .join("pom.xml");
            let text = fs::read_to_string(&pom).unwrap();
            assert!(
                text.contains(&format!("<version>{}</version>", v.release())),
                "{}",
                pom.display()
            );
        }
    }
}
