//! The chaos binary's options (both roles: the orchestrator and the producer process), its
//! usage text and the constants of its faults.

use odradek_tests::Runtime;
use std::time::Duration;

pub(crate) const USAGE: &str = "\
usage: chaos [--runtime tokio|async-std|mio|all] [--records N] [--kills K] [--kill-every S]
             [--mode kill|stop|blackhole|stall|lossy] [--stop-runs RUNTIMES] [--value-size B]
             [--collect ordered|unordered]
             [--blackhole-runs RUNTIMES] [--stall-runs RUNTIMES] [--lossy-runs RUNTIMES]
             [--net-records N] [--no-idempotence]
             [--transactional] [--txn-size N] [--txn-runs RUNTIMES] [--txn-records N]
             [--txn-kills K]";

/// Records per transaction without `--txn-size`.
pub(crate) const DEFAULT_TXN_SIZE: u64 = 100;
/// Partitions of each chaos topic.
pub(crate) const PARTITIONS: i32 = 6;
/// How long a frozen leader stays frozen in `--mode stop`.
pub(crate) const FREEZE: Duration = Duration::from_secs(8);
/// The producer's request timeout in `--mode stop` (shorter than [`FREEZE`]).
pub(crate) const STOP_MODE_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Allowed RSS above `buffer.memory`.
pub(crate) const RSS_SLACK: u64 = 64 << 20;
/// How long the producer's traffic to one leader is dropped in a blackhole run (longer than
/// [`STOP_MODE_REQUEST_TIMEOUT`], the producer's request timeout there).
pub(crate) const BLACKHOLE: Duration = Duration::from_secs(10);
/// How long the answers of one leader are held back in a stall run (longer than the
/// producer's request timeout there).
pub(crate) const STALL: Duration = Duration::from_secs(10);
/// Lossy runs: delay of every chunk in each proxy, each way.
pub(crate) const LOSSY_DELAY: Duration = Duration::from_millis(15);
/// Lossy runs: further random delay per chunk, up to this.
pub(crate) const LOSSY_JITTER: Duration = Duration::from_millis(30);
/// Lossy runs: fraction of packets dropped, each way.
pub(crate) const LOSSY_LOSS: f64 = 0.03;
/// Lossy runs: fraction of the producer's data packets answered with a TCP reset.
pub(crate) const LOSSY_RESET: f64 = 0.003;
/// Lossy runs: how often a proxy connection is cut.
pub(crate) const CUT_EVERY: Duration = Duration::from_secs(3);
/// How long a lossy run produces.
pub(crate) const LOSSY_RUN: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Kill,
    Stop,
    Blackhole,
    Stall,
    Lossy,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Kill => "kill",
            Mode::Stop => "stop",
            Mode::Blackhole => "blackhole",
            Mode::Stall => "stall",
            Mode::Lossy => "lossy",
        }
    }

    /// Whether the producer goes through the proxies, as its own user.
    pub(crate) fn network(self) -> bool {
        matches!(self, Mode::Blackhole | Mode::Stall | Mode::Lossy)
    }
}

/// Options shared by both roles.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) runtimes: Vec<Runtime>,
    pub(crate) records: u64,
    pub(crate) kills: u32,
    pub(crate) kill_every: Duration,
    pub(crate) mode: Mode,
    /// One extra SIGSTOP run (one freeze) per runtime, after the main runs.
    pub(crate) stop_runs: Vec<Runtime>,
    /// One blackhole run per runtime, after those.
    pub(crate) blackhole_runs: Vec<Runtime>,
    /// One half-open (answers withheld) run per runtime, after those.
    pub(crate) stall_runs: Vec<Runtime>,
    /// One slow and lossy run per runtime, after those.
    pub(crate) lossy_runs: Vec<Runtime>,
    /// Records of each network-fault run.
    pub(crate) net_records: Option<u64>,
    /// Run the producer without idempotence (duplicates are then reported, not fatal).
    pub(crate) no_idempotence: bool,
    /// Produce in transactions of this many records (`--transactional`, `--txn-size N`): the
    /// runs then check transactions read back `read_committed` (tokio and async-std only).
    pub(crate) transactional: Option<u64>,
    /// One transactional run (kills) per runtime, after every other run.
    pub(crate) txn_runs: Vec<Runtime>,
    /// Records per transaction of the transactional runs.
    pub(crate) txn_size: u64,
    /// Records of each of those runs (default `--records`).
    pub(crate) txn_records: Option<u64>,
    /// Kills of each of those runs (default `--kills`).
    pub(crate) txn_kills: Option<u32>,
    pub(crate) value_size: usize,
    /// `true`: outcomes are collected as they come (the async `for_each_concurrent`, the
    /// blocking producer's channel shape); `false`: in send order, as the demo does.
    pub(crate) unordered: bool,
    // Producer role only.
    pub(crate) bootstrap: String,
    pub(crate) topic: String,
    pub(crate) rate: f64,
    pub(crate) out: String,
    pub(crate) request_timeout: Option<Duration>,
}

pub(crate) fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runtimes: Runtime::ALL.to_vec(),
        records: 200_000,
        kills: 3,
        kill_every: Duration::from_secs(10),
        mode: Mode::Kill,
        stop_runs: Vec::new(),
        blackhole_runs: Vec::new(),
        stall_runs: Vec::new(),
        lossy_runs: Vec::new(),
        net_records: None,
        no_idempotence: false,
        transactional: None,
        txn_runs: Vec::new(),
        txn_size: DEFAULT_TXN_SIZE,
        txn_records: None,
        txn_kills: None,
        value_size: 100,
        unordered: true,
        bootstrap: String::new(),
        topic: String::new(),
        rate: 0.0,
        out: String::new(),
        request_timeout: None,
    };
    let (mut transactional, mut txn_size) = (false, DEFAULT_TXN_SIZE);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--runtime" => o.runtimes = runtimes(value()?)?,
            "--records" => o.records = num(value()?)?,
            "--kills" => o.kills = num(value()?)? as u32,
            "--kill-every" => o.kill_every = Duration::from_secs(num(value()?)?),
            "--mode" => {
                o.mode = match value()? {
                    "kill" => Mode::Kill,
                    "stop" => Mode::Stop,
                    "blackhole" => Mode::Blackhole,
                    "stall" => Mode::Stall,
                    "lossy" => Mode::Lossy,
                    m => return Err(format!("unknown mode {m:?}\n{USAGE}")),
                }
            }
            "--stop-runs" => o.stop_runs = runtimes(value()?)?,
            "--blackhole-runs" => o.blackhole_runs = runtimes(value()?)?,
            "--stall-runs" => o.stall_runs = runtimes(value()?)?,
            "--lossy-runs" => o.lossy_runs = runtimes(value()?)?,
            "--net-records" => o.net_records = Some(num(value()?)?),
            "--no-idempotence" => o.no_idempotence = true,
            "--transactional" => transactional = true,
            "--txn-size" => txn_size = num(value()?)?.max(1),
            "--txn-runs" => o.txn_runs = runtimes(value()?)?,
            "--txn-records" => o.txn_records = Some(num(value()?)?),
            "--txn-kills" => o.txn_kills = Some(num(value()?)? as u32),
            "--value-size" => o.value_size = num(value()?)? as usize,
            "--collect" => {
                o.unordered = match value()? {
                    "ordered" => false,
                    "unordered" => true,
                    c => return Err(format!("unknown --collect {c:?}\n{USAGE}")),
                }
            }
            "--bootstrap" => o.bootstrap = value()?.to_owned(),
            "--topic" => o.topic = value()?.to_owned(),
            "--rate" => {
                let v = value()?;
                o.rate = v.parse().map_err(|_| format!("--rate: {v:?}"))?;
            }
            "--out" => o.out = value()?.to_owned(),
            "--request-timeout-ms" => {
                o.request_timeout = Some(Duration::from_millis(num(value()?)?))
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    o.transactional = transactional.then_some(txn_size);
    o.txn_size = txn_size;
    if o.records == 0 || o.runtimes.is_empty() {
        return Err(format!("nothing to do\n{USAGE}"));
    }
    Ok(o)
}

/// `all` or a comma-separated list of runtimes.
pub(crate) fn runtimes(list: &str) -> Result<Vec<Runtime>, String> {
    match list {
        "all" => Ok(Runtime::ALL.to_vec()),
        list => list.split(',').map(Runtime::parse).collect(),
    }
}
