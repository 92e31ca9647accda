//! [`KafkaCluster`]: start one or three KRaft nodes on free loopback ports, attach to a
//! detached cluster, kill, signal and restart nodes, stop everything.

use crate::config::server_properties;
use crate::fetch::{fetch, java_tool, run};
use crate::process::{pid_alive, prune_stale_test_dirs, signal, spawn_node, State, StateNode};
use crate::{
    err, io_ctx, run_root, tail, Error, Result, Version, STARTED_LINE, START_TIMEOUT, STOP_TIMEOUT,
};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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
    /// Keeps running after this process exits; stop it with [`stop_by_name`](crate::stop_by_name) (xtask).
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
    /// Extra listeners besides PLAINTEXT and CONTROLLER, on every node (single-node
    /// clusters: the ports are fixed). See `secure.rs`.
    pub extra_listeners: Vec<Listener>,
    /// Extra listeners of one node each: entry `i` goes to node `i + 1`, after
    /// `extra_listeners` (a listener per node behind a proxy: see `proxy.rs`).
    pub node_listeners: Vec<Vec<Listener>>,
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
    /// The port advertised in metadata; `None`: [`port`](Self::port). A proxy's port makes
    /// clients of this listener go through the proxy.
    pub advertised_port: Option<u16>,
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
            node_listeners: Vec::new(),
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
    pub(crate) watchdog: Option<(Child, Option<ChildStdin>)>,
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
/// use odradek_kafka_harness::{KafkaCluster, Version};
/// let kafka = KafkaCluster::start(Version::V4_1, 1).unwrap();
/// kafka.create_topic("t", 3, 1, &[]).unwrap();
/// // ... produce to kafka.bootstrap() ...
/// let records = kafka.consume_all("t", 10).unwrap();
/// drop(kafka); // stops the broker
/// ```
#[derive(Debug)]
pub struct KafkaCluster {
    pub(crate) version: Version,
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) nodes: Vec<Node>,
    pub(crate) lifetime: Lifetime,
    pub(crate) stopped: bool,
}

static NAME_COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) const WATCHDOG: &str = r#"
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
            let listeners: Vec<Listener> = opts
                .extra_listeners
                .iter()
                .chain(opts.node_listeners.get(i as usize).into_iter().flatten())
                .cloned()
                .collect();
            let props = server_properties(
                version,
                id,
                n,
                port,
                cport,
                &voters,
                &data,
                &opts.extra_properties,
                &listeners,
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
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
    }
}
