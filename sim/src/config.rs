//! Configuration of a simulated run: the cluster ([`ClusterConfig`]), its network
//! ([`NetworkConfig`]), the protocol versions its brokers speak ([`BrokerVersions`]) and the
//! whole run ([`SimConfig`]).

use crate::faults::FaultConfig;
use crate::workload::WorkloadConfig;
use odradek_core::{Config, Instant};
use std::time::Duration;

/// The instant every simulation starts at: 2026-01-01T00:00:00Z.
pub const SIM_EPOCH: Instant = Instant::from_unix_millis(1_767_225_600_000);

/// The port every simulated broker listens on.
pub const BROKER_PORT: u16 = 9092;

/// The host name of broker `node_id`: `broker-<id>`.
///
/// ```
/// assert_eq!(odradek_sim::broker_host(3), "broker-3");
/// ```
pub fn broker_host(node_id: i32) -> String {
    format!("broker-{node_id}")
}

/// A topic to create in the simulated cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// How many partitions it has.
    pub partitions: i32,
}

impl TopicSpec {
    /// A topic `name` with `partitions` partitions.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
        }
    }
}

/// The API version ranges the simulated brokers advertise in ApiVersions and accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerVersions {
    /// Produce (key 0).
    pub produce: (i16, i16),
    /// Metadata (key 3).
    pub metadata: (i16, i16),
    /// ApiVersions (key 18).
    pub api_versions: (i16, i16),
    /// InitProducerId (key 22); `None` for brokers older than 0.11, which have no
    /// idempotent producer.
    pub init_producer_id: Option<(i16, i16)>,
}

impl BrokerVersions {
    /// A modern broker (Kafka 4.x): Produce 3..=12, Metadata 0..=12, ApiVersions 0..=3,
    /// InitProducerId 0..=4.
    pub const fn modern() -> Self {
        BrokerVersions {
            produce: (3, 12),
            metadata: (0, 12),
            api_versions: (0, 3),
            init_producer_id: Some((0, 4)),
        }
    }

    /// A Kafka 0.10.0 broker: Produce 0..=2 (legacy MessageSet), Metadata 0..=1, ApiVersions 0.
    pub const fn kafka_0_10() -> Self {
        BrokerVersions {
            produce: (0, 2),
            metadata: (0, 1),
            api_versions: (0, 0),
            init_producer_id: None,
        }
    }

    /// Whether this broker only takes the legacy MessageSet (no Produce v3).
    pub fn is_legacy(&self) -> bool {
        self.produce.1 < 3
    }
}

impl Default for BrokerVersions {
    fn default() -> Self {
        BrokerVersions::modern()
    }
}

/// One-way network latency and how responses are cut into pieces.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Shortest one-way latency (client to broker, or back, or connection setup).
    pub latency_min: Duration,
    /// Longest one-way latency; each message draws uniformly from `latency_min..=latency_max`.
    /// Bytes on one connection never overtake each other.
    pub latency_max: Duration,
    /// Split responses into up to three chunks (handed to the client one by one) so the
    /// client's framing is exercised.
    pub fragment_responses: bool,
}

impl NetworkConfig {
    /// Zero latency and whole responses: the broker answers at the instant it is asked.
    pub fn instant() -> Self {
        NetworkConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
            fragment_responses: false,
        }
    }
}

impl Default for NetworkConfig {
    /// 0.2–2 ms one way, fragmented responses.
    fn default() -> Self {
        NetworkConfig {
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_millis(2),
            fragment_responses: true,
        }
    }
}

/// The simulated cluster alone: brokers, topics, network, faults. Used by
/// [`Cluster`](crate::Cluster) directly, or inside a [`SimConfig`].
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Seed of everything random in the cluster (latencies, fault schedule, injected errors).
    pub seed: u64,
    /// Number of brokers; their node ids are `1..=brokers`.
    pub brokers: i32,
    /// Topics; partition `p` of the `t`-th topic starts led by broker `1 + (t + p) % brokers`.
    pub topics: Vec<TopicSpec>,
    /// Protocol versions advertised.
    pub versions: BrokerVersions,
    /// Latency.
    pub network: NetworkConfig,
    /// Faults.
    pub faults: FaultConfig,
    /// The largest decompressed batch the brokers accept (bigger ones are refused as corrupt).
    pub max_decompressed_batch: usize,
    /// Keep every appended record in the logs (what the checker needs). Turn it off for long
    /// benchmarks: offsets are still assigned, but nothing is stored.
    pub keep_records: bool,
    /// Transactions: a transaction coordinator and group coordinators on the brokers, and
    /// the `transaction.version` they finalize (off by default: the brokers then advertise
    /// none of the transactional APIs).
    pub transactions: crate::txn_coordinator::TxnConfig,
}

impl ClusterConfig {
    /// Three brokers, topics `a` (3 partitions) and `b` (1 partition), modern versions,
    /// default latency, no faults.
    ///
    /// ```
    /// let c = odradek_sim::ClusterConfig::new(7);
    /// assert_eq!(c.brokers, 3);
    /// assert_eq!(c.bootstrap_servers(), vec!["broker-1:9092".to_owned()]);
    /// ```
    pub fn new(seed: u64) -> Self {
        ClusterConfig {
            seed,
            brokers: 3,
            topics: vec![TopicSpec::new("a", 3), TopicSpec::new("b", 1)],
            versions: BrokerVersions::modern(),
            network: NetworkConfig::default(),
            faults: FaultConfig::none(),
            max_decompressed_batch: 64 * 1024 * 1024,
            keep_records: true,
            transactions: crate::txn_coordinator::TxnConfig::off(),
        }
    }

    /// The bootstrap address of the cluster: `["broker-1:9092"]`.
    pub fn bootstrap_servers(&self) -> Vec<String> {
        vec![format!("{}:{}", broker_host(1), BROKER_PORT)]
    }
}

/// A whole simulated run: a cluster, a producer configuration, a workload and limits.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The run's seed; the producer's seed, the cluster's and the workload's derive from it.
    pub seed: u64,
    /// The cluster.
    pub cluster: ClusterConfig,
    /// The producer configuration (its `bootstrap_servers` should name the cluster's brokers,
    /// e.g. [`ClusterConfig::bootstrap_servers`]).
    pub producer: Config,
    /// The records to send.
    pub workload: WorkloadConfig,
    /// Events (inputs to the core) after which the run counts as a livelock.
    pub max_steps: u64,
    /// Virtual time after which a run that has not closed counts as stuck.
    pub max_virtual_time: Duration,
    /// Keep a human-readable trace of every event in the report.
    pub trace: bool,
    /// The most a timer fires late: each deadline [`ProducerCore::poll_timeout`] names fires
    /// this much later at most (drawn per deadline from the seed), as a real driver's timer
    /// does (timer granularity, a busy thread), so that sends and network events meet
    /// deadlines that are already due. Zero: timers fire on time.
    ///
    /// [`ProducerCore::poll_timeout`]: odradek_core::ProducerCore::poll_timeout
    pub timer_lateness: Duration,
    /// A close with a timeout (an adapter's `close_timeout`, Java's `close(Duration)`): this
    /// long after the workload's close, the run calls
    /// [`ProducerCore::close_now`](odradek_core::ProducerCore::close_now), failing every
    /// record left with `CloseTimedOut`. `None`: the close waits as long as it takes.
    pub close_timeout: Option<Duration>,
}

impl SimConfig {
    /// A fault-free run of 100 records against [`ClusterConfig::new`] with the producer's
    /// default configuration (acks=all), seeded by `seed`.
    ///
    /// ```
    /// let config = odradek_sim::SimConfig::new(42);
    /// assert_eq!(config.producer.bootstrap_servers, vec!["broker-1:9092".to_owned()]);
    /// ```
    pub fn new(seed: u64) -> Self {
        let cluster = ClusterConfig::new(seed ^ 0xC1A5_7E55);
        let mut producer = Config::new(cluster.bootstrap_servers());
        producer.request_timeout = Duration::from_secs(5);
        SimConfig {
            seed,
            cluster,
            producer,
            workload: WorkloadConfig::default(),
            max_steps: 500_000,
            max_virtual_time: Duration::from_secs(3600),
            trace: false,
            timer_lateness: Duration::ZERO,
            close_timeout: None,
        }
    }

    /// The command that replays this seed in the suite.
    pub fn replay_command(&self) -> String {
        replay_command(self.seed)
    }
}

/// The one command that replays seed `seed` of the suite with a detailed trace.
///
/// ```
/// assert_eq!(
///     odradek_sim::replay_command(12345),
///     "ODRADEK_SIM_SEED=12345 cargo test -p odradek-sim --test sim -- --nocapture"
/// );
/// ```
pub fn replay_command(seed: u64) -> String {
    format!("ODRADEK_SIM_SEED={seed} cargo test -p odradek-sim --test sim -- --nocapture")
}
