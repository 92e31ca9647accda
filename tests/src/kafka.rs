//! A real Apache Kafka for tests and for `cargo xtask kafka ...`: fetch the broker's jars from
//! Maven Central, start one or three KRaft nodes on free loopback ports, create topics, read
//! records back with Kafka's own Java client, stop everything.
//!
//! This file uses only `std`, so that the `xtask` binary can compile it in directly
//! (`#[path = "../../tests/src/kafka.rs"]`) and stay free of dependencies, while the
//! `odradek-tests` library exposes the same code as [`crate::kafka`].
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

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that turns the real-broker tests on (`ODRADEK_KAFKA=1`).
/// `cargo xtask test` sets it; a plain `cargo test` leaves it unset and those tests skip.
pub const ENABLE_ENV: &str = "ODRADEK_KAFKA";

/// The environment variable naming one `cargo xtask test` run; every broker started while it
/// is set carries it on its command line, so the run can check that none is left behind.
pub const RUN_ID_ENV: &str = "ODRADEK_RUN_ID";

/// The environment variable that sets the heap of the harness's client JVMs (`-Xmx`, default
/// `512m`): reading a million records back with RecordTool needs more.
pub const TOOL_HEAP_ENV: &str = "ODRADEK_TOOL_HEAP";

/// How long to wait for a broker to report that it started.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a broker gets to stop after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The log line that says a KRaft node is up (`[KafkaRaftServer nodeId=1] Kafka Server started`).
const STARTED_LINE: &str = "Kafka Server started";

/// Whether the real-broker tests are enabled (`ODRADEK_KAFKA=1`).
pub fn enabled() -> bool {
    std::env::var(ENABLE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// For the first line of a real-broker test: `true` if the test should run; otherwise prints
/// why it is skipped and returns `false`.
///
/// ```no_run
/// if !odradek_tests::kafka::should_run("produce_and_read_back") {
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

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

fn io_ctx<T>(r: std::io::Result<T>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| Error(format!("{}: {e}", what())))
}

/// A Kafka release line the project tests against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Kafka 4.1.1: RecordBatch v2 and Produce v3+ only.
    V4_1,
    /// Kafka 3.9.1: the last line that still accepts Produce v0–v2 (MessageSet v0/v1).
    V3_9,
}

impl Version {
    /// Every supported version.
    pub const ALL: [Version; 2] = [Version::V4_1, Version::V3_9];

    /// `"4.1"` or `"3.9"`: the folder name under `kafka/` and `.kafka/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V4_1 => "4.1",
            Version::V3_9 => "3.9",
        }
    }

    /// Parses `"4.1"` / `"3.9"` (also `"4.1.1"`, `"3.9.1"`).
    pub fn parse(s: &str) -> Result<Version> {
        match s {
            "4.1" | "4.1.1" => Ok(Version::V4_1),
            "3.9" | "3.9.1" => Ok(Version::V3_9),
            _ => err(format!("unknown Kafka version {s:?} (known: 4.1, 3.9)")),
        }
    }

    /// The broker's logging configuration file under `kafka/<ver>/`, and the system property
    /// that names it.
    fn broker_log_config(self) -> (&'static str, &'static str) {
        match self {
            Version::V4_1 => ("log4j2.properties", "log4j2.configurationFile"),
            Version::V3_9 => ("log4j.properties", "log4j.configuration"),
        }
    }

    fn tools_log_config(self) -> (&'static str, &'static str) {
        match self {
            Version::V4_1 => ("tools-log4j2.properties", "log4j2.configurationFile"),
            Version::V3_9 => ("tools-log4j.properties", "log4j.configuration"),
        }
    }
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

/// 64-bit FNV-1a: a stable content hash (std's `DefaultHasher` is not stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What [`fetch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The jars were already there for this pom.
    Cached(PathBuf),
    /// Maven fetched them now.
    Downloaded(PathBuf),
}

impl Fetched {
    /// The jar folder.
    pub fn lib(&self) -> &Path {
        match self {
            Fetched::Cached(p) | Fetched::Downloaded(p) => p,
        }
    }
}

/// Makes sure `.kafka/<ver>/lib` holds the jars for `kafka/<ver>/pom.xml`, running
/// `mvn dependency:copy-dependencies` only when the pom's content hash differs from the one
/// stored next to the jars.
pub fn fetch(version: Version) -> Result<Fetched> {
    let root = workspace_root();
    let pom = root.join("kafka").join(version.as_str()).join("pom.xml");
    let pom_bytes = io_ctx(fs::read(&pom), || format!("reading {}", pom.display()))?;
    let hash = format!("{:016x}", fnv1a(&pom_bytes));
    let lib = lib_dir(version);
    let hash_file = lib.with_file_name("lib.pomhash");
    if fs::read_to_string(&hash_file).is_ok_and(|h| h.trim() == hash) && lib.is_dir() {
        verify_jars(version, &lib)?;
        return Ok(Fetched::Cached(lib));
    }
    if !command_exists("mvn") {
        return err("mvn not found on PATH: Maven is needed to fetch Kafka's jars");
    }
    // Fetch into a private folder and move it into place, so a concurrent reader never sees a
    // half-filled lib/.
    let tmp = lib.with_file_name(format!("lib.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let out = io_ctx(
        Command::new("mvn")
            .args([
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
            ])
            .arg(format!("-DoutputDirectory={}", tmp.display()))
            .arg("-f")
            .arg(&pom)
            .stdin(Stdio::null())
            .output(),
        || "running mvn".to_owned(),
    )?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return err(format!(
            "mvn dependency:copy-dependencies for {} failed ({}):\n{}{}",
            pom.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    verify_jars(version, &tmp)?;
    let _ = fs::remove_file(&hash_file);
    let _ = fs::remove_dir_all(&lib);
    io_ctx(fs::rename(&tmp, &lib), || {
        format!("moving {} to {}", tmp.display(), lib.display())
    })?;
    io_ctx(fs::write(&hash_file, format!("{hash}\n")), || {
        format!("writing {}", hash_file.display())
    })?;
    Ok(Fetched::Downloaded(lib))
}

/// Checks that the jars the harness relies on are present (the main classes live in them:
/// `kafka.Kafka`, `kafka.tools.StorageTool` in `kafka_2.13`; `TopicCommand`, `ConsoleConsumer`
/// in `kafka-tools`; the Java client in `kafka-clients`).
fn verify_jars(version: Version, lib: &Path) -> Result<()> {
    let full = match version {
        Version::V4_1 => "4.1.1",
        Version::V3_9 => "3.9.1",
    };
    let names: Vec<String> = io_ctx(fs::read_dir(lib), || format!("listing {}", lib.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for want in ["kafka_2.13", "kafka-tools", "kafka-clients"] {
        let jar = format!("{want}-{full}.jar");
        if !names.contains(&jar) {
            return err(format!("{} lacks {jar}", lib.display()));
        }
    }
    Ok(())
}

/// Whether `name` is an executable on `PATH`.
pub fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(name);
            p.is_file()
                && fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// A `java` command for one of Kafka's tools, with the version's jars and tool logging.
pub fn java_tool(version: Version, main: &str) -> Command {
    java_tool_cp(version, format!("{}/*", lib_dir(version).display()), main)
}

fn java_tool_cp(version: Version, classpath: String, main: &str) -> Command {
    let root = workspace_root();
    let (log_file, log_prop) = version.tools_log_config();
    let log = root.join("kafka").join(version.as_str()).join(log_file);
    let mut cmd = Command::new("java");
    // Short-lived client JVMs: C1 only and the serial GC start about a second faster.
    let heap = std::env::var(TOOL_HEAP_ENV).unwrap_or_else(|_| "512m".into());
    cmd.arg(format!("-Xmx{heap}"))
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
        .arg(format!("-D{log_prop}=file:{}", log.display()))
        .arg("-cp")
        .arg(classpath)
        .arg(main)
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion, returning stdout; a non-zero exit is an error carrying both
/// output streams.
fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = io_ctx(cmd.output(), || format!("starting {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return err(format!(
            "{what} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// Binds `n` listeners on `127.0.0.1:0` at once, so the ports are distinct, then frees them.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| {
            io_ctx(TcpListener::bind("127.0.0.1:0"), || {
                "binding 127.0.0.1:0".into()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| io_ctx(l.local_addr(), || "local_addr".into()).map(|a| a.port()))
        .collect()
}

/// Whether a process outlives the one that started the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Stopped when the [`KafkaCluster`] is dropped or this process ends (tests).
    Watched,
    /// Keeps running after this process exits; stop it with [`stop_by_name`] (xtask).
    Detached,
}

/// How to start a cluster.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Kafka version.
    pub version: Version,
    /// Number of KRaft nodes, each both broker and controller: 1 or 3.
    pub nodes: u32,
    /// Folder name under `.kafka/run/`; `None` picks a unique one.
    pub name: Option<String>,
    /// Process lifetime.
    pub lifetime: Lifetime,
    /// Extra broker properties, appended to each node's `server.properties`.
    pub extra_properties: Vec<(String, String)>,
    /// Extra listeners besides PLAINTEXT and CONTROLLER (single-node clusters: the ports
    /// are fixed). See `secure.rs`.
    pub extra_listeners: Vec<Listener>,
    /// Extra arguments to `kafka-storage format` (for example `--add-scram ...`).
    pub format_args: Vec<String>,
}

/// A broker listener besides PLAINTEXT and CONTROLLER, bound on 127.0.0.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// The listener's name (`SSL`, `SASL_SSL`, ...).
    pub name: String,
    /// Its security protocol (`SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub protocol: String,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The host advertised in metadata (`localhost`, so TLS hostname checks have a name).
    pub advertised_host: String,
}

impl StartOptions {
    /// Watched, auto-named, no extra properties.
    pub fn new(version: Version, nodes: u32) -> Self {
        StartOptions {
            version,
            nodes,
            name: None,
            lifetime: Lifetime::Watched,
            extra_properties: Vec::new(),
            extra_listeners: Vec::new(),
            format_args: Vec::new(),
        }
    }
}

/// One KRaft node (broker + controller in one JVM).
#[derive(Debug)]
pub struct Node {
    /// `node.id`, from 1.
    pub id: u32,
    /// The broker (PLAINTEXT) port on 127.0.0.1.
    pub port: u16,
    /// The controller port on 127.0.0.1.
    pub controller_port: u16,
    /// The JVM's process id.
    pub pid: u32,
    /// The node's folder (config, data, logs).
    pub dir: PathBuf,
    watchdog: Option<(Child, Option<ChildStdin>)>,
}

impl Node {
    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log file.
    pub fn server_log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The JVM's stdout/stderr.
    pub fn stdout_log(&self) -> PathBuf {
        self.dir.join("stdout.log")
    }
}

/// A running local Kafka cluster.
///
/// ```no_run
/// use odradek_tests::kafka::{KafkaCluster, Version};
/// let kafka = KafkaCluster::start(Version::V4_1, 1).unwrap();
/// kafka.create_topic("t", 3, 1, &[]).unwrap();
/// // ... produce to kafka.bootstrap() ...
/// let records = kafka.consume_all("t", 10).unwrap();
/// drop(kafka); // stops the broker
/// ```
#[derive(Debug)]
pub struct KafkaCluster {
    version: Version,
    name: String,
    dir: PathBuf,
    nodes: Vec<Node>,
    lifetime: Lifetime,
    stopped: bool,
}

static NAME_COUNTER: AtomicU32 = AtomicU32::new(0);

const WATCHDOG: &str = r#"
# $1 = data dir and $2 = state file to delete at the end, $3 = log file, rest = the java command.
data=$1; state=$2; log=$3; shift 3
"$@" >>"$log" 2>&1 </dev/null &
pid=$!
echo "$pid"
stop() {
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$data" "$state"
}
trap 'stop; exit 0' INT TERM HUP
read -r cmd || true
# `forget`: the broker was killed on purpose and a new watchdog runs it on the same data.
[ "$cmd" = forget ] && exit 0
stop
"#;

impl KafkaCluster {
    /// Fetches `version` if needed and starts a watched cluster of `nodes` (1 or 3) nodes.
    pub fn start(version: Version, nodes: u32) -> Result<KafkaCluster> {
        Self::start_with(StartOptions::new(version, nodes))
    }

    /// Starts a cluster as described by `opts`.
    pub fn start_with(opts: StartOptions) -> Result<KafkaCluster> {
        if opts.nodes == 0 || opts.nodes > 9 {
            return err(format!("nodes must be 1..=9, got {}", opts.nodes));
        }
        let version = opts.version;
        fetch(version)?;
        let name = opts.name.clone().unwrap_or_else(|| {
            format!(
                "test-{}-{}-{}",
                version.as_str().replace('.', ""),
                std::process::id(),
                NAME_COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
        if opts.lifetime == Lifetime::Watched {
            prune_stale_test_dirs();
        }
        let dir = run_root().join(&name);
        if let Some(state) = State::read(&dir) {
            if state.nodes.iter().any(|n| pid_alive(n.pid)) {
                return err(format!(
                    "cluster {name} is already running (bootstrap {}); stop it first",
                    state.bootstrap
                ));
            }
        }
        let _ = fs::remove_dir_all(&dir);
        io_ctx(fs::create_dir_all(&dir), || {
            format!("creating {}", dir.display())
        })?;

        let ports = free_ports(2 * opts.nodes as usize)?;
        let n = opts.nodes;
        let voters = (0..n)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i as usize + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = run(
            java_tool(version, "kafka.tools.StorageTool").arg("random-uuid"),
            "StorageTool random-uuid",
        )?
        .trim()
        .to_owned();
        if cluster_id.len() != 22 {
            return err(format!(
                "unexpected cluster id {cluster_id:?} from StorageTool"
            ));
        }

        // Write every node's config and format its storage (in parallel: one JVM each).
        let mut formats = Vec::new();
        let mut specs = Vec::new();
        for i in 0..n {
            let id = i + 1;
            let node_dir = dir.join(format!("node{id}"));
            let data = node_dir.join("data");
            io_ctx(fs::create_dir_all(&data), || {
                format!("creating {}", data.display())
            })?;
            let port = ports[2 * i as usize];
            let cport = ports[2 * i as usize + 1];
            let props = server_properties(
                version,
                id,
                n,
                port,
                cport,
                &voters,
                &data,
                &opts.extra_properties,
                &opts.extra_listeners,
            );
            let props_file = node_dir.join("server.properties");
            io_ctx(fs::write(&props_file, props), || {
                format!("writing {}", props_file.display())
            })?;
            let mut cmd = java_tool(version, "kafka.tools.StorageTool");
            cmd.args(["format", "-t", &cluster_id, "-c"])
                .arg(&props_file)
                .args(&opts.format_args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            formats.push((
                id,
                io_ctx(cmd.spawn(), || "starting StorageTool format".into())?,
            ));
            specs.push((id, port, cport, node_dir, data, props_file));
        }
        for (id, child) in formats {
            let out = io_ctx(child.wait_with_output(), || {
                "waiting for StorageTool".into()
            })?;
            if !out.status.success() {
                return err(format!(
                    "StorageTool format for node {id} failed ({}):\n{}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }

        let mut cluster = KafkaCluster {
            version,
            name,
            dir: dir.clone(),
            nodes: Vec::new(),
            lifetime: opts.lifetime,
            stopped: false,
        };
        for (id, port, cport, node_dir, data, props_file) in specs {
            let node = spawn_node(
                version,
                opts.lifetime,
                id,
                port,
                cport,
                &node_dir,
                &data,
                &props_file,
            )?;
            cluster.nodes.push(node);
        }
        let ready = cluster
            .write_state()
            .and_then(|()| cluster.wait_ready(START_TIMEOUT));
        if let Err(e) = ready {
            // Stop whatever did start, detached or not.
            let _ = cluster.stop();
            return Err(e);
        }
        Ok(cluster)
    }

    /// A handle on a running cluster from its state file in `.kafka/run/<name>/` (for
    /// `cargo xtask kafka topic|consume`). Dropping it leaves the cluster running.
    pub fn attach(name: &str) -> Result<KafkaCluster> {
        let dir = run_root().join(name);
        let Some(state) = State::read(&dir) else {
            return err(format!(
                "no running cluster {name:?} (no {}); start one with `cargo xtask kafka start`",
                dir.join("state").display()
            ));
        };
        let nodes = state
            .nodes
            .iter()
            .map(|n| Node {
                id: n.id,
                port: n.port,
                controller_port: 0,
                pid: n.pid,
                dir: n.dir.clone(),
                watchdog: None,
            })
            .collect();
        Ok(KafkaCluster {
            version: state.version,
            name: name.to_owned(),
            dir,
            nodes,
            lifetime: Lifetime::Detached,
            stopped: false,
        })
    }

    /// The Kafka version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The folder name under `.kafka/run/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// `bootstrap.servers` for clients: every node's address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.bootstrap_list().join(",")
    }

    /// Every node's `127.0.0.1:<port>`.
    pub fn bootstrap_list(&self) -> Vec<String> {
        self.nodes.iter().map(Node::address).collect()
    }

    fn write_state(&self) -> Result<()> {
        let state = State {
            version: self.version,
            bootstrap: self.bootstrap(),
            nodes: self
                .nodes
                .iter()
                .map(|n| StateNode {
                    id: n.id,
                    pid: n.pid,
                    port: n.port,
                    dir: n.dir.clone(),
                })
                .collect(),
        };
        state.write(&self.dir)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<&Node> = self.nodes.iter().collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for node in pending {
                if !pid_alive(node.pid) {
                    return err(format!(
                        "Kafka node {} (pid {}) exited during startup\n--- {}:\n{}\n--- {}:\n{}",
                        node.id,
                        node.pid,
                        node.server_log().display(),
                        tail(&node.server_log(), 40),
                        node.stdout_log().display(),
                        tail(&node.stdout_log(), 40)
                    ));
                }
                let addr: SocketAddr = ([127, 0, 0, 1], node.port).into();
                let up = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                    && fs::read_to_string(node.server_log())
                        .is_ok_and(|log| log.contains(STARTED_LINE));
                if !up {
                    still.push(node);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let node = pending[0];
                return err(format!(
                    "Kafka node {} not ready after {timeout:?}\n--- {}:\n{}",
                    node.id,
                    node.server_log().display(),
                    tail(&node.server_log(), 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        Ok(())
    }

    /// Creates a topic with TopicCommand and waits until every node's metadata shows all its
    /// partitions with a leader. `configs` are topic configs such as `("max.message.bytes", "1000")`.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let mut cmd = java_tool(self.version, "org.apache.kafka.tools.TopicCommand");
        cmd.args([
            "--bootstrap-server",
            &self.bootstrap(),
            "--create",
            "--topic",
            name,
        ])
        .args(["--partitions", &partitions.to_string()])
        .args(["--replication-factor", &replication.to_string()]);
        for (k, v) in configs {
            cmd.args(["--config", &format!("{k}={v}")]);
        }
        run(&mut cmd, &format!("TopicCommand --create {name}"))?;
        self.wait_for_topic(name, partitions, Duration::from_secs(60))
    }

    /// Polls every node with a Metadata request until `topic` has `partitions` partitions,
    /// each with a leader and no error.
    pub fn wait_for_topic(&self, topic: &str, partitions: i32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in &self.nodes {
            loop {
                let last = match metadata_leaders(node.port, topic) {
                    Ok(leaders)
                        if leaders.len() == partitions as usize
                            && leaders.iter().all(|&(_, l)| l >= 0) =>
                    {
                        break
                    }
                    Ok(leaders) => format!("partitions/leaders so far: {leaders:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "topic {topic} not ready on node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Metadata can name a leader before that broker has taken leadership; a Produce then
        // gets NOT_LEADER_OR_FOLLOWER (with acks=0 the broker just drops the connection and
        // the records). ListOffsets answers only from the leader, so ask each one until it does.
        let leaders = metadata_leaders(self.nodes[0].port, topic)?;
        for node in &self.nodes {
            let mine: Vec<i32> = leaders
                .iter()
                .filter(|&&(_, l)| l == node.id as i32)
                .map(|&(p, _)| p)
                .collect();
            if mine.is_empty() {
                continue;
            }
            loop {
                let last = match list_offsets_errors(node.port, topic, &mine) {
                    Ok(errors) if errors.iter().all(|&(_, e)| e == 0) => break,
                    Ok(errors) => format!("ListOffsets errors {errors:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "topic {topic} not led by node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Reads every record of `topic` from the beginning with Kafka's Java consumer (see
    /// `kafka/RecordTool.java`), waiting (up to 60 s) until at least `expected` records
    /// arrived and the end of every partition is reached. Records come ordered by partition,
    /// then offset. Returns fewer than `expected` only if the wait timed out.
    pub fn consume_all(&self, topic: &str, expected: usize) -> Result<Vec<ConsumedRecord>> {
        self.consume_all_timeout(topic, expected, Duration::from_secs(60))
    }

    /// [`consume_all`](Self::consume_all) with an explicit timeout.
    pub fn consume_all_timeout(
        &self,
        topic: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>> {
        let mut all = self.consume_topics(&[topic], expected, timeout)?;
        Ok(all.remove(topic).unwrap_or_default())
    }

    /// Reads several topics in one consumer (one JVM), waiting until at least
    /// `expected_total` records arrived in all and every partition's end is reached. Each
    /// topic's records come ordered by partition, then offset; every topic asked for has an
    /// entry, empty if it has no records.
    pub fn consume_topics(
        &self,
        topics: &[&str],
        expected_total: usize,
        timeout: Duration,
    ) -> Result<HashMap<String, Vec<ConsumedRecord>>> {
        let list = topics.join(",");
        let mut cmd = record_tool(self.version)?;
        cmd.args(["consume", &self.bootstrap(), &list])
            .arg(expected_total.to_string())
            .arg(timeout.as_millis().to_string());
        let out = run(&mut cmd, &format!("RecordTool consume {list}"))?;
        let mut map: HashMap<String, Vec<ConsumedRecord>> = topics
            .iter()
            .map(|t| ((*t).to_owned(), Vec::new()))
            .collect();
        for r in parse_consumed(&out)? {
            map.entry(r.topic.clone()).or_default().push(r);
        }
        Ok(map)
    }

    /// Creates many topics with one Admin request (one JVM instead of one TopicCommand per
    /// topic), then waits until each has a leader for every partition.
    pub fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        let mut cmd = record_tool(self.version)?;
        cmd.args(["create", &self.bootstrap()]);
        for t in topics {
            let configs: Vec<String> = t.configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            cmd.arg(format!(
                "{}:{}:{}:{}",
                t.name,
                t.partitions,
                t.replication,
                configs.join(",")
            ));
        }
        run(&mut cmd, "RecordTool create")?;
        for t in topics {
            self.wait_for_topic(&t.name, t.partitions, Duration::from_secs(60))?;
        }
        Ok(())
    }

    /// Produces records with Kafka's Java producer (acks=all), returning each record's
    /// `(partition, offset)` or the Java client's error message, in input order. A reference
    /// point for comparisons and a way to test the harness itself.
    pub fn produce_reference(
        &self,
        topic: &str,
        records: &[ReferenceRecord],
    ) -> Result<Vec<Result<(i32, i64), String>>> {
        let mut input = String::new();
        for r in records {
            input.push_str(&r.partition.map_or("-".into(), |p| p.to_string()));
            input.push('\t');
            input.push_str(&r.timestamp.map_or("-".into(), |t| t.to_string()));
            input.push('\t');
            input.push_str(&hex_opt(r.key.as_deref()));
            input.push('\t');
            input.push_str(&hex_opt(r.value.as_deref()));
            input.push('\t');
            input.push_str(&r.headers.len().to_string());
            for (k, v) in &r.headers {
                input.push('\t');
                input.push_str(&hex_opt(Some(k.as_bytes())));
                input.push('\t');
                input.push_str(&hex_opt(v.as_deref()));
            }
            input.push('\n');
        }
        let mut cmd = record_tool(self.version)?;
        cmd.args(["produce", &self.bootstrap(), topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = io_ctx(cmd.spawn(), || "starting RecordTool produce".into())?;
        if let Some(mut stdin) = child.stdin.take() {
            io_ctx(stdin.write_all(input.as_bytes()), || {
                "writing to RecordTool".into()
            })?;
        }
        let out = io_ctx(child.wait_with_output(), || "waiting for RecordTool".into())?;
        if !out.status.success() {
            return err(format!(
                "RecordTool produce failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut results = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["M", p, o] => results.push(Ok((parse_num(p)?, parse_num(o)?))),
                ["E", msg @ ..] => results.push(Err(msg.join("\t"))),
                _ => return err(format!("unexpected RecordTool line {line:?}")),
            }
        }
        if results.len() != records.len() {
            return err(format!(
                "RecordTool reported {} outcomes for {} records",
                results.len(),
                records.len()
            ));
        }
        Ok(results)
    }

    /// SIGKILLs node `id`'s JVM (a crash: no clean shutdown) and waits until it is gone. Its
    /// data stays for [`restart_node`](Self::restart_node).
    pub fn kill_node(&mut self, id: u32) -> Result<()> {
        let node = self.node_mut(id)?;
        signal(node.pid, "KILL");
        let until = Instant::now() + Duration::from_secs(10);
        while pid_alive(node.pid) {
            if Instant::now() >= until {
                return err(format!(
                    "Kafka node {id} (pid {}) survived SIGKILL",
                    node.pid
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Sends `sig` (such as `"STOP"` or `"CONT"`) to node `id`'s JVM.
    pub fn signal_node(&self, id: u32, sig: &str) -> Result<()> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| Error(format!("no node {id}")))?;
        signal(node.pid, sig);
        Ok(())
    }

    /// Starts node `id` again after [`kill_node`](Self::kill_node): same configuration, ports
    /// and data folder. Waits until its port answers and its log says it started (a restarted
    /// broker then still has to catch up before it is back in the ISR: see
    /// [`wait_for_full_isr`](Self::wait_for_full_isr)).
    pub fn restart_node(&mut self, id: u32) -> Result<()> {
        let (version, lifetime) = (self.version, self.lifetime);
        let node = self.node_mut(id)?;
        if pid_alive(node.pid) {
            return err(format!(
                "Kafka node {id} (pid {}) is still running",
                node.pid
            ));
        }
        // The old watchdog must not delete the data the new broker runs on.
        if let Some((mut child, stdin)) = node.watchdog.take() {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(b"forget\n");
            }
            let _ = child.wait();
        }
        // The server log is appended to; the start line is looked for after this point only.
        let log_len = fs::metadata(node.server_log()).map_or(0, |m| m.len());
        let dir = node.dir.clone();
        let new = spawn_node(
            version,
            lifetime,
            id,
            node.port,
            node.controller_port,
            &dir,
            &dir.join("data"),
            &dir.join("server.properties"),
        )?;
        *node = new;
        self.write_state()?;
        let node = self.node_mut(id)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !pid_alive(node.pid) {
                return err(format!(
                    "restarted Kafka node {id} exited\n--- {}:\n{}",
                    node.server_log().display(),
                    tail(&node.server_log(), 40)
                ));
            }
            let addr: SocketAddr = ([127, 0, 0, 1], node.port).into();
            let started = fs::read(node.server_log()).is_ok_and(|log| {
                let fresh = log.get(log_len as usize..).unwrap_or(&[]);
                String::from_utf8_lossy(fresh).contains(STARTED_LINE)
            });
            if started && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return err(format!(
                    "restarted Kafka node {id} not ready after {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn node_mut(&mut self, id: u32) -> Result<&mut Node> {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| Error(format!("no node {id}")))
    }

    /// `topic`'s partitions (leader, replicas, ISR) as the first live node that answers a
    /// Metadata request sees them, skipping `except` (a node that is down or frozen).
    pub fn partitions(&self, topic: &str, except: Option<u32>) -> Result<Vec<PartitionInfo>> {
        let mut last = Error(format!("no node to ask about {topic}"));
        for node in self.nodes.iter().filter(|n| Some(n.id) != except) {
            match metadata_partitions(node.port, topic) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Waits until every partition of `topic` has a leader and all its replicas in the ISR,
    /// as seen by every node.
    pub fn wait_for_full_isr(&self, topic: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in &self.nodes {
            loop {
                let last = match metadata_partitions(node.port, topic) {
                    Ok(parts)
                        if !parts.is_empty()
                            && parts.iter().all(|p| {
                                p.leader >= 0
                                    && p.isr.len() == p.replicas.len()
                                    && p.replicas.iter().all(|r| p.isr.contains(r))
                            }) =>
                    {
                        break
                    }
                    Ok(parts) => format!("{parts:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "{topic}: ISR not full on node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Stops every node: SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        // Ask all nodes at once: a KRaft quorum shuts down faster together.
        for node in &mut self.nodes {
            match &mut node.watchdog {
                Some((_, stdin)) => drop(stdin.take()),
                None => signal(node.pid, "TERM"),
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut leftover = Vec::new();
        for node in &mut self.nodes {
            if let Some((child, _)) = &mut node.watchdog {
                // The watchdog escalates to SIGKILL itself after 15 s.
                let _ = child.wait();
            }
            while pid_alive(node.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if pid_alive(node.pid) {
                signal(node.pid, "KILL");
                leftover.push(node.pid);
            }
        }
        for pid in &leftover {
            let until = Instant::now() + Duration::from_secs(5);
            while pid_alive(*pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = fs::remove_file(self.dir.join("state"));
        if self.lifetime == Lifetime::Watched {
            let _ = fs::remove_dir_all(&self.dir);
        }
        match leftover.iter().find(|p| pid_alive(**p)) {
            Some(pid) => err(format!("Kafka pid {pid} survived SIGKILL")),
            None => Ok(()),
        }
    }
}

/// Stops a [`Lifetime::Watched`] cluster; a detached one keeps running.
impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if self.lifetime == Lifetime::Detached {
            return;
        }
        if let Err(e) = self.stop() {
            eprintln!("stopping Kafka cluster {}: {e}", self.name);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn server_properties(
    version: Version,
    id: u32,
    nodes: u32,
    port: u16,
    cport: u16,
    voters: &str,
    data: &Path,
    extra: &[(String, String)],
    listeners: &[Listener],
) -> String {
    let rf = nodes.min(3);
    let min_isr = if nodes >= 3 { 2 } else { 1 };
    let (mut bind, mut advertise, mut map) = (String::new(), String::new(), String::new());
    for l in listeners {
        bind.push_str(&format!(",{}://127.0.0.1:{}", l.name, l.port));
        advertise.push_str(&format!(",{}://{}:{}", l.name, l.advertised_host, l.port));
        map.push_str(&format!(",{}:{}", l.name, l.protocol));
    }
    let mut p = format!(
        "# Written by odradek's Kafka harness (tests/src/kafka.rs).\n\
         process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}{bind}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}{advertise}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT{map}\n\
         log.dirs={data}\n\
         auto.create.topics.enable=false\n\
         num.partitions=1\n\
         default.replication.factor={rf}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={rf}\n\
         offsets.topic.num.partitions=3\n\
         transaction.state.log.replication.factor={rf}\n\
         transaction.state.log.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         num.network.threads=2\n\
         num.io.threads=4\n\
         num.recovery.threads.per.data.dir=1\n",
        data = data.display()
    );
    if version == Version::V4_1 {
        // Share groups exist from 4.0 on; 3.9 would only warn about unknown settings.
        p.push_str(&format!(
            "share.coordinator.state.topic.replication.factor={rf}\n\
             share.coordinator.state.topic.min.isr={min_isr}\n"
        ));
    }
    // Kafka 3.9 accepts Produce v0-v2 (MessageSet magic 0/1) with its defaults and converts
    // such batches to RecordBatch v2 on append; `log.message.format.version` is ignored
    // since 3.0, so nothing needs setting for the legacy-format tests.
    for (k, v) in extra {
        p.push_str(&format!("{k}={v}\n"));
    }
    p
}

#[allow(clippy::too_many_arguments)]
fn spawn_node(
    version: Version,
    lifetime: Lifetime,
    id: u32,
    port: u16,
    cport: u16,
    node_dir: &Path,
    data: &Path,
    props_file: &Path,
) -> Result<Node> {
    let root = workspace_root();
    let (log_file, log_prop) = version.broker_log_config();
    let log_config = root.join("kafka").join(version.as_str()).join(log_file);
    let stdout_log = node_dir.join("stdout.log");
    let mut java: Vec<String> = vec![
        "java".into(),
        "-Xms512m".into(),
        "-Xmx1g".into(),
        "-XX:+UseG1GC".into(),
        "-Djava.awt.headless=true".into(),
        format!("-Dkafka.logs.dir={}", node_dir.display()),
        format!("-D{log_prop}=file:{}", log_config.display()),
        // Markers: which cluster folder this JVM belongs to, and which `cargo xtask test` run.
        format!("-Dodradek.kafka={}", node_dir.display()),
    ];
    if let Ok(run_id) = std::env::var(RUN_ID_ENV) {
        java.push(format!("-Dodradek.run={run_id}"));
    }
    java.extend([
        "-cp".into(),
        format!("{}/*", lib_dir(version).display()),
        "kafka.Kafka".into(),
        props_file.display().to_string(),
    ]);
    let (pid, watchdog) = match lifetime {
        Lifetime::Detached => {
            let out = io_ctx(fs::File::create(&stdout_log), || {
                format!("creating {}", stdout_log.display())
            })?;
            let out2 = io_ctx(out.try_clone(), || "dup log file".into())?;
            let child = io_ctx(
                Command::new(&java[0])
                    .args(&java[1..])
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(out2)
                    // Own process group: a Ctrl-C in the terminal that ran xtask must not reach it.
                    .process_group(0)
                    .spawn(),
                || "starting java kafka.Kafka".into(),
            )?;
            // Not waited for: it outlives us; init reaps it.
            (child.id(), None)
        }
        Lifetime::Watched => {
            let mut child = io_ctx(
                Command::new("bash")
                    .arg("-c")
                    .arg(WATCHDOG)
                    .arg("odradek-kafka-watchdog")
                    .arg(data)
                    .arg(node_dir.parent().unwrap_or(node_dir).join("state"))
                    .arg(&stdout_log)
                    .args(&java)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn(),
                || "starting the broker watchdog (bash)".into(),
            )?;
            let mut line = String::new();
            if let Some(out) = child.stdout.take() {
                let _ = BufReader::new(out).read_line(&mut line);
            }
            let stdin = child.stdin.take();
            let pid: u32 = match line.trim().parse() {
                Ok(p) => p,
                Err(_) => {
                    drop(stdin);
                    let _ = child.wait();
                    return err(format!("watchdog did not report a pid (got {line:?})"));
                }
            };
            (pid, Some((child, stdin)))
        }
    };
    Ok(Node {
        id,
        port,
        controller_port: cport,
        pid,
        dir: node_dir.to_path_buf(),
        watchdog,
    })
}

/// The cluster's state file (`.kafka/run/<name>/state`), for stopping a detached cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Kafka version.
    pub version: Version,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// The nodes.
    pub nodes: Vec<StateNode>,
}

/// One node in a [`State`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateNode {
    /// `node.id`.
    pub id: u32,
    /// JVM pid.
    pub pid: u32,
    /// Broker port.
    pub port: u16,
    /// Node folder (also the `-Dodradek.kafka=` marker on its command line).
    pub dir: PathBuf,
}

impl State {
    /// Reads `<dir>/state`; `None` if missing or unreadable.
    pub fn read(dir: &Path) -> Option<State> {
        let text = fs::read_to_string(dir.join("state")).ok()?;
        let mut version = None;
        let mut bootstrap = None;
        let mut nodes = Vec::new();
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "version" => version = Version::parse(v).ok(),
                "bootstrap" => bootstrap = Some(v.to_owned()),
                "node" => {
                    let mut f = v.splitn(4, ' ');
                    nodes.push(StateNode {
                        id: f.next()?.parse().ok()?,
                        pid: f.next()?.parse().ok()?,
                        port: f.next()?.parse().ok()?,
                        dir: PathBuf::from(f.next()?),
                    });
                }
                _ => {}
            }
        }
        Some(State {
            version: version?,
            bootstrap: bootstrap?,
            nodes,
        })
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let mut s = format!("version={}\nbootstrap={}\n", self.version, self.bootstrap);
        for n in &self.nodes {
            s.push_str(&format!(
                "node={} {} {} {}\n",
                n.id,
                n.pid,
                n.port,
                n.dir.display()
            ));
        }
        let path = dir.join("state");
        io_ctx(fs::write(&path, s), || {
            format!("writing {}", path.display())
        })
    }
}

/// Stops the cluster recorded in `.kafka/run/<name>/state`: SIGTERM to every node that is
/// still the JVM we started (checked by the `-Dodradek.kafka=` marker, so a reused pid is
/// never hit), SIGKILL after [`STOP_TIMEOUT`]. Returns the pids that were running.
pub fn stop_by_name(name: &str) -> Result<Vec<u32>> {
    let dir = run_root().join(name);
    let Some(state) = State::read(&dir) else {
        return err(format!(
            "no cluster state at {}",
            dir.join("state").display()
        ));
    };
    let mut running: Vec<u32> = Vec::new();
    for node in &state.nodes {
        if is_our_broker(node.pid, &node.dir) {
            running.push(node.pid);
        }
    }
    // Also catch JVMs of this cluster whose pid the state does not know (a stale state file).
    for pid in find_processes(&format!("-Dodradek.kafka={}", dir.display())) {
        if !running.contains(&pid) {
            running.push(pid);
        }
    }
    for &pid in &running {
        signal(pid, "TERM");
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while running.iter().any(|&p| pid_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for &pid in &running {
        if pid_alive(pid) {
            signal(pid, "KILL");
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while running.iter().any(|&p| pid_alive(p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(pid) = running.iter().find(|&&p| pid_alive(p)) {
        return err(format!("Kafka pid {pid} survived SIGKILL"));
    }
    let _ = fs::remove_file(dir.join("state"));
    Ok(running)
}

/// Deletes `.kafka/run/test-*` folders left by earlier test processes (their logs are kept
/// until the next test run) when no JVM of theirs runs any more.
fn prune_stale_test_dirs() {
    let Ok(entries) = fs::read_dir(run_root()) else {
        return;
    };
    let me = format!("-{}-", std::process::id());
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("test-") || name.contains(&me) {
            continue;
        }
        let dir = e.path();
        // Leave young folders alone: another process may be formatting one right now.
        let old = fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if old && find_processes(&format!("-Dodradek.kafka={}/", dir.display())).is_empty() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Whether `pid` is a broker JVM of the node folder `node_dir` (checked by the
/// `-Dodradek.kafka=` marker on its command line, so a reused pid never counts).
pub fn is_our_broker(pid: u32, node_dir: &Path) -> bool {
    pid_alive(pid)
        && cmdline(pid)
            .is_some_and(|c| c.contains(&format!("-Dodradek.kafka={}", node_dir.display())))
}

/// The command line of a process, arguments joined by spaces.
fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Pids of live processes whose command line contains `needle` (reads `/proc`).
pub fn find_processes(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && pid_alive(pid))
        .filter(|&pid| {
            cmdline(pid)
                .is_some_and(|c| c.contains(needle) && !c.contains("odradek-kafka-watchdog"))
        })
        .collect()
}

/// Whether `pid` is a live process (exists and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Sends a signal with `kill(1)` (std has no `kill(2)` for arbitrary pids).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
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

/// A `java` command running `kafka/RecordTool.java`: compiled once per source change with
/// `javac` into `.kafka/<ver>/classes` (about 5 s, saved on every later run), or run through
/// Java's single-file source launcher when `javac` is missing.
fn record_tool(version: Version) -> Result<Command> {
    let src = workspace_root().join("kafka").join("RecordTool.java");
    if !command_exists("javac") {
        return Ok(java_tool(version, &src.display().to_string()));
    }
    let source = io_ctx(fs::read(&src), || format!("reading {}", src.display()))?;
    let hash = format!("{:016x}", fnv1a(&source));
    let classes = lib_dir(version).with_file_name("classes");
    let hash_file = classes.with_file_name("classes.srchash");
    if !(classes.join("RecordTool.class").is_file()
        && fs::read_to_string(&hash_file).is_ok_and(|h| h.trim() == hash))
    {
        let tmp = classes.with_file_name(format!("classes.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        run(
            Command::new("javac")
                .arg("-nowarn")
                .arg("-cp")
                .arg(format!("{}/*", lib_dir(version).display()))
                .arg("-d")
                .arg(&tmp)
                .arg(&src)
                .stdin(Stdio::null()),
            "javac RecordTool.java",
        )?;
        let _ = fs::remove_file(&hash_file);
        let _ = fs::remove_dir_all(&classes);
        // Another process may have won the race; either copy is the same code.
        if fs::rename(&tmp, &classes).is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        io_ctx(fs::write(&hash_file, format!("{hash}\n")), || {
            format!("writing {}", hash_file.display())
        })?;
    }
    let classpath = format!("{}:{}/*", classes.display(), lib_dir(version).display());
    let cmd = java_tool_cp(version, classpath, "RecordTool");
    Ok(cmd)
}

/// One record read back from Kafka by [`KafkaCluster::consume_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp type: 0 = CreateTime, 1 = LogAppendTime, -1 = none (magic 0).
    pub timestamp_type: i8,
    /// Timestamp in ms (-1 when the record has none).
    pub timestamp: i64,
    /// Key; `None` is Kafka's null.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
    /// Headers in order: key and optional value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A topic for [`KafkaCluster::create_topics`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i16,
    /// Topic configs, e.g. `("max.message.bytes", "1000")`.
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic with no extra configs.
    pub fn new(name: impl Into<String>, partitions: i32, replication: i16) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A record for [`KafkaCluster::produce_reference`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceRecord {
    /// Explicit partition, or the Java client's default partitioner.
    pub partition: Option<i32>,
    /// Timestamp, or "now".
    pub timestamp: Option<i64>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn hex_opt(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_owned(),
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

fn unhex_opt(s: &str) -> Result<Option<Vec<u8>>> {
    if s == "-" {
        return Ok(None);
    }
    if !s.len().is_multiple_of(2) {
        return err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error(format!("bad hex {s:?}")))
        })
        .collect::<Result<Vec<u8>>>()
        .map(Some)
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| Error(format!("not a number: {s:?}")))
}

/// Parses `RecordTool consume` output (see `kafka/RecordTool.java`).
pub fn parse_consumed(out: &str) -> Result<Vec<ConsumedRecord>> {
    let mut records = Vec::new();
    let mut end = None;
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first().copied() {
            Some("R") if f.len() >= 9 => {
                let f = &f[1..];
                let nh: usize = parse_num(f[7])?;
                if f.len() != 8 + 2 * nh {
                    return err(format!("bad record line {line:?}"));
                }
                let mut headers = Vec::with_capacity(nh);
                for i in 0..nh {
                    let key = unhex_opt(f[8 + 2 * i])?.unwrap_or_default();
                    let key = String::from_utf8(key)
                        .map_err(|_| Error(format!("header key not UTF-8 in {line:?}")))?;
                    headers.push((key, unhex_opt(f[9 + 2 * i])?));
                }
                records.push(ConsumedRecord {
                    topic: f[0].to_owned(),
                    partition: parse_num(f[1])?,
                    offset: parse_num(f[2])?,
                    timestamp_type: parse_num(f[3])?,
                    timestamp: parse_num(f[4])?,
                    key: unhex_opt(f[5])?,
                    value: unhex_opt(f[6])?,
                    headers,
                });
            }
            Some("END") if f.len() == 3 => end = Some(parse_num::<usize>(f[1])?),
            _ => return err(format!("unexpected RecordTool line {line:?}")),
        }
    }
    match end {
        Some(n) if n == records.len() => Ok(records),
        Some(n) => err(format!(
            "RecordTool said {n} records but printed {}",
            records.len()
        )),
        None => err(format!("RecordTool output has no END line:\n{out}")),
    }
}

/// Sends a Metadata v4 request for one topic to `127.0.0.1:port` and returns its partitions
/// as `(partition, leader)`, sorted. A minimal independent client (it does not use
/// odradek-core), only for waiting until a new topic is usable.
fn metadata_leaders(port: u16, topic: &str) -> Result<Vec<(i32, i32)>> {
    Ok(metadata_partitions(port, topic)?
        .into_iter()
        .map(|p| (p.index, p.leader))
        .collect())
}

/// One partition as a Metadata response describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub index: i32,
    /// Leader's node id; -1 when none (or the partition has an error).
    pub leader: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

/// Metadata v4 for one topic from `127.0.0.1:port`: its partitions, sorted by index.
pub fn metadata_partitions(port: u16, topic: &str) -> Result<Vec<PartitionInfo>> {
    let mut body = Vec::new();
    body.extend_from_slice(&1i32.to_be_bytes()); // topics: one
    put_str(&mut body, topic);
    body.push(0); // allow_auto_topic_creation = false
    let buf = request(port, 3, 4, &body)?; // Metadata v4
    let mut r = Reader { buf: &buf, pos: 0 };
    let _throttle = r.i32()?;
    for _ in 0..r.count()? {
        r.i32()?; // node id
        r.string()?; // host
        r.i32()?; // port
        r.string()?; // rack
    }
    r.string()?; // cluster id
    r.i32()?; // controller id
    let mut result = Vec::new();
    for _ in 0..r.count()? {
        let error = r.i16()?;
        let name = r.string()?;
        r.u8()?; // is_internal
        let mut parts = Vec::new();
        for _ in 0..r.count()? {
            let perr = r.i16()?;
            let index = r.i32()?;
            let leader = r.i32()?;
            let mut lists = [Vec::new(), Vec::new()];
            for list in &mut lists {
                for _ in 0..r.count()? {
                    list.push(r.i32()?);
                }
            }
            let [replicas, isr] = lists;
            parts.push(PartitionInfo {
                index,
                leader: if perr == 0 { leader } else { -1 },
                replicas,
                isr,
            });
        }
        if name.as_deref() == Some(topic) {
            if error != 0 {
                return err(format!("topic {topic}: error code {error}"));
            }
            result = parts;
        }
    }
    result.sort_unstable_by_key(|p| p.index);
    Ok(result)
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// One request/response exchange on a fresh connection to `127.0.0.1:port`, with a v1
/// request header (non-flexible versions only). Returns the response after its correlation id.
fn request(port: u16, api_key: i16, version: i16, body: &[u8]) -> Result<Vec<u8>> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = io_ctx(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
        || format!("connecting to {addr}"),
    )?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    put_str(&mut frame, "odradek-harness");
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    io_ctx(s.write_all(&out), || {
        format!("sending api {api_key} v{version}")
    })?;
    let mut len = [0u8; 4];
    io_ctx(s.read_exact(&mut len), || "reading response size".into())?;
    let len = i32::from_be_bytes(len);
    if !(4..=1 << 20).contains(&len) {
        return err(format!("bad response size {len}"));
    }
    let mut buf = vec![0u8; len as usize];
    io_ctx(s.read_exact(&mut buf), || "reading response".into())?;
    if buf[..4] != 7i32.to_be_bytes() {
        return err("response correlation id mismatch");
    }
    buf.drain(..4);
    Ok(buf)
}

/// ListOffsets v1 (latest offset) for `partitions` of `topic`: each partition's error code.
fn list_offsets_errors(port: u16, topic: &str, partitions: &[i32]) -> Result<Vec<(i32, i16)>> {
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i32).to_be_bytes()); // replica_id: a client
    body.extend_from_slice(&1i32.to_be_bytes()); // topics: one
    put_str(&mut body, topic);
    body.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for p in partitions {
        body.extend_from_slice(&p.to_be_bytes());
        body.extend_from_slice(&(-1i64).to_be_bytes()); // latest
    }
    let buf = request(port, 2, 1, &body)?;
    let mut r = Reader { buf: &buf, pos: 0 };
    let mut out = Vec::new();
    for _ in 0..r.count()? {
        r.string()?;
        for _ in 0..r.count()? {
            let index = r.i32()?;
            let error = r.i16()?;
            r.take(16)?; // timestamp, offset
            out.push((index, error));
        }
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() - self.pos < n {
            return err("Metadata response truncated");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn count(&mut self) -> Result<usize> {
        let n = self.i32()?;
        // Each element is at least 4 bytes: refuse counts the remaining bytes cannot hold.
        if n < 0 || n as usize > (self.buf.len() - self.pos) / 4 {
            return err(format!("bad array length {n} in Metadata response"));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<Option<String>> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(self.take(n as usize)?).into_owned(),
        ))
    }
}

/// Runs Kafka's ConsoleConsumer on `topic` (from the beginning, at most `max` records, 10 s
/// idle timeout) with key, partition, offset, timestamp and headers printed, returning its
/// stdout. For humans (`cargo xtask kafka consume`); tests use [`KafkaCluster::consume_all`],
/// which is binary-safe.
pub fn console_consume(
    version: Version,
    bootstrap: &str,
    topic: &str,
    max: usize,
) -> Result<String> {
    let mut cmd = java_tool(version, "org.apache.kafka.tools.consumer.ConsoleConsumer");
    cmd.args([
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--from-beginning",
    ])
    .args(["--max-messages", &max.to_string(), "--timeout-ms", "10000"]);
    for prop in [
        "print.timestamp=true",
        "print.partition=true",
        "print.offset=true",
        "print.headers=true",
        "print.key=true",
        "print.value=true",
        "key.separator=\t",
        "headers.separator=,",
        "null.literal=<null>",
    ] {
        cmd.args(["--property", prop]);
    }
    let out = io_ctx(cmd.output(), || "starting ConsoleConsumer".into())?;
    // ConsoleConsumer exits non-zero on its idle timeout (TimeoutException) after printing
    // what it read; that is not an error here.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stderr.contains("TimeoutException") {
        return err(format!(
            "ConsoleConsumer failed ({}):\n{stderr}",
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pids of brokers started under the `cargo xtask test` run `run_id`.
pub fn brokers_of_run(run_id: &str) -> Vec<u32> {
    find_processes(&format!("-Dodradek.run={run_id} "))
}

/// A shared map from version to a lazily started single-node cluster, for test binaries whose
/// tests can share one broker (each using its own topics).
pub fn shared(version: Version) -> Result<&'static KafkaCluster> {
    use std::sync::{Mutex, OnceLock};
    static CLUSTERS: OnceLock<Mutex<HashMap<Version, &'static KafkaCluster>>> = OnceLock::new();
    let map = CLUSTERS.get_or_init(|| Mutex::new(HashMap::new()));
    // Held while starting, so concurrent tests wait for the one start instead of racing.
    let mut guard = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = guard.get(&version) {
        return Ok(c);
    }
    // Leaked on purpose: statics are never dropped, and the watchdog stops the broker when
    // the test process exits.
    let cluster: &'static KafkaCluster = Box::leak(Box::new(KafkaCluster::start(version, 1)?));
    guard.insert(version, cluster);
    Ok(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_record_tool_output_binary_safe() {
        let out = "R\tt\t0\t5\t0\t1700000000000\t00ff0a\t-\t2\t6b31\t0910\t6b32\t-\n\
                   R\tt\t1\t0\t-1\t-1\t-\t\t0\n\
                   END\t2\tcomplete\n";
        let recs = parse_consumed(out).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].partition, 0);
        assert_eq!(recs[0].offset, 5);
        assert_eq!(recs[0].timestamp, 1_700_000_000_000);
        assert_eq!(recs[0].key.as_deref(), Some(&[0x00, 0xff, 0x0a][..]));
        assert_eq!(recs[0].value, None);
        assert_eq!(
            recs[0].headers,
            vec![
                ("k1".to_owned(), Some(vec![0x09, 0x10])),
                ("k2".to_owned(), None)
            ]
        );
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].value, Some(Vec::new()));
        assert_eq!(recs[1].timestamp_type, -1);
    }

    #[test]
    fn rejects_truncated_or_inconsistent_output() {
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\t-\t-\t0\n").is_err());
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\t-\t-\t1\t6b\nEND\t1\tcomplete\n").is_err());
        assert!(parse_consumed("END\t3\tcomplete\n").is_err());
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\tzz\t-\t0\nEND\t1\tcomplete\n").is_err());
    }

    #[test]
    fn hex_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex_opt(&hex_opt(Some(&bytes))).unwrap(), Some(bytes));
        assert_eq!(unhex_opt("-").unwrap(), None);
    }

    #[test]
    fn state_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("odradek-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let state = State {
            version: Version::V3_9,
            bootstrap: "127.0.0.1:1,127.0.0.1:2".into(),
            nodes: vec![StateNode {
                id: 1,
                pid: 42,
                port: 1,
                dir: PathBuf::from("/x/node 1"),
            }],
        };
        state.write(&dir).unwrap();
        assert_eq!(State::read(&dir), Some(state));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn server_properties_for_three_nodes() {
        let p = server_properties(
            Version::V4_1,
            2,
            3,
            9000,
            9001,
            "1@127.0.0.1:1,2@127.0.0.1:9001,3@127.0.0.1:3",
            Path::new("/d"),
            &[("a.b".into(), "c".into())],
            &[],
        );
        for line in [
            "node.id=2",
            "min.insync.replicas=2",
            "offsets.topic.replication.factor=3",
            "auto.create.topics.enable=false",
            "listeners=PLAINTEXT://127.0.0.1:9000,CONTROLLER://127.0.0.1:9001",
            "share.coordinator.state.topic.replication.factor=3",
            "a.b=c",
        ] {
            assert!(p.lines().any(|l| l == line), "missing {line} in\n{p}");
        }
        let p39 = server_properties(
            Version::V3_9,
            1,
            1,
            1,
            2,
            "1@127.0.0.1:2",
            Path::new("/d"),
            &[],
            &[Listener {
                name: "SSL".into(),
                protocol: "SSL".into(),
                port: 7,
                advertised_host: "localhost".into(),
            }],
        );
        assert!(!p39.contains("share.coordinator"));
        for line in [
            "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2,SSL://127.0.0.1:7",
            "advertised.listeners=PLAINTEXT://127.0.0.1:1,SSL://localhost:7",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
        ] {
            assert!(p39.lines().any(|l| l == line), "missing {line} in\n{p39}");
        }
        assert!(p39.lines().any(|l| l == "min.insync.replicas=1"));
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
    }
}
