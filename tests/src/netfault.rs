//! Network faults for `cargo xtask chaos` on loopback: iptables rules that hit only the
//! producer's traffic, and the user it runs as.
//!
//! The kernels these tests run on have no `netem`, but iptables (nf_tables backend) has the
//! `owner` match (so only packets of the producer's own uid are hit, not the brokers'), the
//! `statistic` match (random packet loss) and `REJECT --reject-with tcp-reset`. Latency and
//! jitter come from the harness's [`Proxy`] in front of each broker;
//! the producer reaches the brokers only through those proxies, so a rule on a proxy's port
//! hits exactly the producer's connections to that broker:
//!
//! - producer to proxy: matched by `--uid-owner` and the destination port;
//! - proxy to producer: the proxy runs in the orchestrator, so those packets are matched by
//!   their source port (only the producer connects to the proxies).
//!
//! Every rule lives in one chain per orchestrator process, `ODRADEK-CHAOS-<pid>`, jumped to
//! from `OUTPUT`; [`Firewall`] removes both when dropped (also when unwinding from a panic),
//! and [`Firewall::new`] first removes those of orchestrators that are gone (killed runs).

use crate::kafka::{command_exists, free_ports, pid_alive, Faults, Listener, Proxy};
use std::path::PathBuf;
use std::process::Command;

/// The user the chaos producer runs as under network faults.
pub const USER: &str = "odradek-chaos";

/// Prefix of the chain names; the orchestrator's pid follows.
pub const CHAIN_PREFIX: &str = "ODRADEK-CHAOS-";

/// The comment on the `OUTPUT` rule that jumps to a chain.
const COMMENT: &str = "odradek-chaos";

/// Whether this process runs as root (iptables and switching users need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            == Some("0")
    })
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The iptables binary (`/usr/sbin` is not on every root's PATH).
fn iptables_bin() -> Option<&'static str> {
    if command_exists("iptables") {
        Some("iptables")
    } else if std::path::Path::new("/usr/sbin/iptables").exists() {
        Some("/usr/sbin/iptables")
    } else {
        None
    }
}

/// Installs Debian's `iptables` with apt-get if it is missing.
pub fn ensure_iptables() -> Result<(), String> {
    if iptables_bin().is_some() {
        return Ok(());
    }
    eprintln!("chaos: iptables is missing: apt-get update && apt-get install -y iptables");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "-q", "iptables"]))?;
    iptables_bin()
        .map(|_| ())
        .ok_or_else(|| "iptables still missing after apt-get install".into())
}

/// The uid and gid of [`USER`], created as a system user (no home, no login) if missing.
pub fn producer_user() -> Result<(u32, u32), String> {
    let ids = || -> Option<(u32, u32)> {
        let u = run(Command::new("id").args(["-u", USER])).ok()?;
        let g = run(Command::new("id").args(["-g", USER])).ok()?;
        Some((u.trim().parse().ok()?, g.trim().parse().ok()?))
    };
    if let Some(ids) = ids() {
        return Ok(ids);
    }
    eprintln!("chaos: creating the system user {USER} for the producer process");
    let useradd = if command_exists("useradd") {
        "useradd"
    } else {
        "/usr/sbin/useradd"
    };
    run(Command::new(useradd).args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        USER,
    ]))?;
    ids().ok_or_else(|| format!("user {USER} still missing after useradd"))
}

/// An iptables rule's arguments after `-A <chain>`.
pub type Rule = Vec<String>;

fn rule(parts: &[&str]) -> Rule {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Drops (does not refuse) every packet between the producer (`uid`) and the proxy on
/// `port`, both ways: a broker that the producer cannot reach while the cluster sees it
/// alive.
pub fn blackhole_rules(uid: u32, port: u16) -> Vec<Rule> {
    let (uid, port) = (uid.to_string(), port.to_string());
    vec![
        rule(&[
            "-p",
            "tcp",
            "-m",
            "owner",
            "--uid-owner",
            &uid,
            "--dport",
            &port,
            "-j",
            "DROP",
        ]),
        rule(&["-p", "tcp", "--sport", &port, "-j", "DROP"]),
    ]
}

/// Between the producer (`uid`) and the proxies on `ports`: a TCP reset for a fraction
/// `reset` of the producer's packets that carry data (PSH: mid-request), then a fraction
/// `loss` of the packets either way dropped.
pub fn lossy_rules(uid: u32, ports: &[u16], loss: f64, reset: f64) -> Vec<Rule> {
    let uid = uid.to_string();
    let ports = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (loss, reset) = (format!("{loss:.4}"), format!("{reset:.4}"));
    let to_proxy = ["-p", "tcp", "-m", "owner", "--uid-owner", &uid];
    let mut rules = Vec::new();
    let mut r = rule(&to_proxy);
    r.extend(rule(&[
        "-m",
        "multiport",
        "--dports",
        &ports,
        "--tcp-flags",
        "PSH",
        "PSH",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        &reset,
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ]));
    rules.push(r);
    let mut r = rule(&to_proxy);
    r.extend(rule(&[
        "-m",
        "multiport",
        "--dports",
        &ports,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        &loss,
        "-j",
        "DROP",
    ]));
    rules.push(r);
    rules.push(rule(&[
        "-p",
        "tcp",
        "-m",
        "multiport",
        "--sports",
        &ports,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        &loss,
        "-j",
        "DROP",
    ]));
    rules
}

/// From `iptables -S` output: the commands that remove chains of [`CHAIN_PREFIX`] whose
/// orchestrator is gone (`alive(pid)` false): first the jumps to them, then the chains.
pub fn stale_cleanup(listing: &str, alive: impl Fn(u32) -> bool) -> Vec<Vec<String>> {
    let stale = |chain: &str| {
        chain
            .strip_prefix(CHAIN_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| !alive(pid))
    };
    let mut jumps = Vec::new();
    let mut chains = Vec::new();
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["-N", chain] if stale(chain) => {
                chains.push(vec!["-F".to_owned(), (*chain).to_owned()]);
                chains.push(vec!["-X".to_owned(), (*chain).to_owned()]);
            }
            ["-A", rest @ ..]
                if rest
                    .windows(2)
                    .any(|w| w[0] == "-j" && stale(w[1]) && !rest[0].starts_with(CHAIN_PREFIX)) =>
            {
                let mut d = vec!["-D".to_owned()];
                d.extend(rest.iter().map(|s| (*s).to_owned()));
                jumps.push(d);
            }
            _ => {}
        }
    }
    jumps.extend(chains);
    jumps
}

/// Packet counts per rule from `iptables -L <chain> -v -x -n`, in rule order.
pub fn parse_counters(listing: &str) -> Vec<u64> {
    listing
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// This process's chain of rules, jumped to from `OUTPUT`; removed on drop.
#[derive(Debug)]
pub struct Firewall {
    bin: &'static str,
    chain: String,
}

impl Firewall {
    /// Removes the chains of orchestrators that are gone, then creates this process's chain
    /// (empty) and the jump to it.
    pub fn new() -> Result<Firewall, String> {
        let bin = iptables_bin().ok_or("iptables is not installed")?;
        let listing = run(Command::new(bin).args(["-w", "-S"]))?;
        let ours = |pid: u32| {
            pid_alive(pid)
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("chaos"))
        };
        for args in stale_cleanup(&listing, ours) {
            eprintln!("chaos: removing a stale rule: iptables {}", args.join(" "));
            run(Command::new(bin).arg("-w").args(&args))?;
        }
        let chain = format!("{CHAIN_PREFIX}{}", std::process::id());
        run(Command::new(bin).args(["-w", "-N", &chain]))?;
        let fw = Firewall { bin, chain };
        run(Command::new(bin).args([
            "-w",
            "-I",
            "OUTPUT",
            "1",
            "-m",
            "comment",
            "--comment",
            COMMENT,
            "-j",
            &fw.chain,
        ]))?;
        Ok(fw)
    }

    /// The chain's name.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Appends `rules` to the chain.
    pub fn add(&self, rules: &[Rule]) -> Result<(), String> {
        for r in rules {
            run(Command::new(self.bin)
                .args(["-w", "-A", &self.chain])
                .args(r))?;
        }
        Ok(())
    }

    /// Packets matched so far by each rule, in order.
    pub fn counters(&self) -> Result<Vec<u64>, String> {
        let out = run(Command::new(self.bin).args(["-w", "-L", &self.chain, "-v", "-x", "-n"]))?;
        Ok(parse_counters(&out))
    }

    /// Removes every rule (the faults heal); the chain stays.
    pub fn clear(&self) -> Result<(), String> {
        run(Command::new(self.bin).args(["-w", "-F", &self.chain])).map(|_| ())
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let steps: [&[&str]; 3] = [
            &[
                "-D",
                "OUTPUT",
                "-m",
                "comment",
                "--comment",
                COMMENT,
                "-j",
                &self.chain,
            ],
            &["-F", &self.chain],
            &["-X", &self.chain],
        ];
        for args in steps {
            if let Err(e) = run(Command::new(self.bin).arg("-w").args(args)) {
                eprintln!("chaos: removing iptables chain {}: {e}", self.chain);
            }
        }
    }
}

/// The listener each broker gets behind its proxy (plaintext).
pub const PROXIED_LISTENER: &str = "PROXIED";

/// Everything a network-fault run needs: a proxy in front of each broker, the firewall
/// chain, and the producer's user.
#[derive(Debug)]
pub struct NetLab {
    /// Proxy of node `i + 1` at index `i`.
    pub proxies: Vec<Proxy>,
    /// This process's iptables chain.
    pub firewall: Firewall,
    /// The producer's uid and gid ([`USER`]).
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// A copy of this executable that [`USER`] can run whatever the permissions on the way
    /// to the original (a checkout under a private home, say), in a folder of its own under
    /// the temp folder; removed on drop.
    pub exe: PathBuf,
}

impl Drop for NetLab {
    fn drop(&mut self) {
        if let Some(dir) = self.exe.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Copies this executable to `<temp>/odradek-chaos-<pid>/` with both readable and
/// executable by everyone, after removing the copies of processes that are gone.
fn public_copy_of_exe() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let temp = std::env::temp_dir();
    for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("odradek-chaos-"))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !pid_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = temp.join(format!("odradek-chaos-{}", std::process::id()));
    let e = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|x| e("creating", x))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|x| e("chmod", x))?;
    let copy = dir.join("chaos");
    std::fs::copy(&exe, &copy).map_err(|x| e(&format!("copying {} to", exe.display()), x))?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .map_err(|x| e("chmod", x))?;
    Ok(copy)
}

impl NetLab {
    /// Checks for root, installs iptables if missing, creates [`USER`] if missing, sets up the
    /// firewall chain (removing stale ones), and starts one proxy per node, each forwarding
    /// to a free port that [`listeners`](Self::listeners) has that node listen on.
    pub fn prepare(nodes: usize) -> Result<NetLab, String> {
        if !is_root() {
            return Err(
                "network faults need root (iptables, a user of their own for the \
                 producer)"
                    .into(),
            );
        }
        ensure_iptables()?;
        let (uid, gid) = producer_user()?;
        let exe = public_copy_of_exe()?;
        let firewall = Firewall::new()?;
        let proxies = free_ports(nodes)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|port| Proxy::start(([127, 0, 0, 1], port).into()).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetLab {
            proxies,
            firewall,
            uid,
            gid,
            exe,
        })
    }

    /// For [`StartOptions::node_listeners`](crate::kafka::StartOptions::node_listeners): node
    /// `i + 1` listens on its proxy's upstream port and advertises the proxy's.
    pub fn listeners(&self) -> Vec<Vec<Listener>> {
        self.proxies
            .iter()
            .map(|p| {
                vec![Listener {
                    name: PROXIED_LISTENER.into(),
                    protocol: "PLAINTEXT".into(),
                    port: p.upstream().port(),
                    advertised_host: "127.0.0.1".into(),
                    advertised_port: Some(p.port()),
                }]
            })
            .collect()
    }

    /// `bootstrap.servers` through the proxies.
    pub fn bootstrap(&self) -> String {
        self.proxies
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn proxy(&self, node: u32) -> Result<&Proxy, String> {
        (node as usize)
            .checked_sub(1)
            .and_then(|i| self.proxies.get(i))
            .ok_or_else(|| format!("no proxy for node {node}"))
    }

    /// Drops every packet between the producer and node `node` (see [`blackhole_rules`]).
    pub fn blackhole(&self, node: u32) -> Result<(), String> {
        let port = self.proxy(node)?.port();
        self.firewall.add(&blackhole_rules(self.uid, port))
    }

    /// Node `node`'s proxy holds back every answer (half-open connections: requests still
    /// reach the broker, which acts on them) until [`heal`](Self::heal).
    pub fn stall(&self, node: u32) -> Result<(), String> {
        self.proxy(node)?.set_faults(Faults {
            stall_responses: true,
            ..Faults::default()
        });
        Ok(())
    }

    /// Chunks of answers node `node`'s proxy has held back so far.
    pub fn stalled(&self, node: u32) -> Result<u64, String> {
        Ok(self.proxy(node)?.stats().stalled)
    }

    /// Delay and jitter on every proxy, then [`lossy_rules`] on every proxy's port.
    pub fn slow_and_lossy(&self, faults: Faults, loss: f64, reset: f64) -> Result<(), String> {
        for p in &self.proxies {
            p.set_faults(faults);
        }
        let ports: Vec<u16> = self.proxies.iter().map(Proxy::port).collect();
        self.firewall
            .add(&lossy_rules(self.uid, &ports, loss, reset))
    }

    /// Cuts one connection of a proxy picked by `pick` (the first with any, from there).
    pub fn cut_one(&self, pick: usize) -> bool {
        let n = self.proxies.len();
        (0..n).any(|k| self.proxies[(pick + k) % n].cut_one())
    }

    /// Connections cut by the proxies so far.
    pub fn cuts(&self) -> u64 {
        self.proxies.iter().map(|p| p.stats().cut).sum()
    }

    /// Lifts every fault: no rules, no delay.
    pub fn heal(&self) -> Result<(), String> {
        for p in &self.proxies {
            p.set_faults(Faults::default());
        }
        self.firewall.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackhole_hits_both_directions_of_one_port() {
        let r = blackhole_rules(998, 4242);
        assert_eq!(
            r[0].join(" "),
            "-p tcp -m owner --uid-owner 998 --dport 4242 -j DROP"
        );
        assert_eq!(r[1].join(" "), "-p tcp --sport 4242 -j DROP");
    }

    #[test]
    fn lossy_resets_first_then_drops_both_ways() {
        let r = lossy_rules(7, &[1, 2, 3], 0.03, 0.002);
        assert_eq!(r.len(), 3);
        let s: Vec<String> = r.iter().map(|r| r.join(" ")).collect();
        assert!(s[0].contains("--uid-owner 7") && s[0].contains("--dports 1,2,3"));
        assert!(s[0].contains("--tcp-flags PSH PSH"));
        assert!(s[0].contains("--probability 0.0020 -j REJECT --reject-with tcp-reset"));
        assert!(s[1].contains("--uid-owner 7") && s[1].ends_with("--probability 0.0300 -j DROP"));
        assert!(s[2].contains("--sports 1,2,3") && !s[2].contains("owner"));
    }

    #[test]
    fn stale_chains_of_dead_orchestrators_are_removed_jumps_first() {
        let listing = "\
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-N ODRADEK-CHAOS-100
-N ODRADEK-CHAOS-200
-N OTHER
-A OUTPUT -m comment --comment odradek-chaos -j ODRADEK-CHAOS-100
-A OUTPUT -m comment --comment odradek-chaos -j ODRADEK-CHAOS-200
-A OUTPUT -j OTHER
-A ODRADEK-CHAOS-100 -p tcp --sport 4242 -j DROP
";
        let cmds: Vec<String> = stale_cleanup(listing, |pid| pid == 200)
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            cmds,
            [
                "-D OUTPUT -m comment --comment odradek-chaos -j ODRADEK-CHAOS-100",
                "-F ODRADEK-CHAOS-100",
                "-X ODRADEK-CHAOS-100",
            ]
        );
    }

    #[test]
    fn counters_per_rule() {
        let listing = "\
Chain ODRADEK-CHAOS-1 (1 references)
    pkts      bytes target     prot opt in     out     source               destination
      12     3000 REJECT     6    --  *      *       0.0.0.0/0            0.0.0.0/0
       0        0 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0
";
        assert_eq!(parse_counters(listing), [12, 0]);
    }
}
