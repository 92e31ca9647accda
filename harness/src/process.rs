//! Node processes: spawning a broker JVM under its watchdog, the cluster's state file,
//! stopping a detached cluster by name, and pids and signals through `/proc` and `kill(1)`.

use crate::cluster::{Lifetime, Node, WATCHDOG};
use crate::{
    err, io_ctx, lib_dir, run_root, workspace_root, Result, Version, RUN_ID_ENV, STOP_TIMEOUT,
};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_node(
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

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
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
pub(crate) fn prune_stale_test_dirs() {
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

/// Pids of brokers started under the `cargo xtask test` run `run_id`.
pub fn brokers_of_run(run_id: &str) -> Vec<u32> {
    find_processes(&format!("-Dodradek.run={run_id} "))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
