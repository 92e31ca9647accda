//! Partitioners: Java-compatible murmur2 (the Java client's default), Sarama's FNV-1a hash,
//! seeded random, round-robin, sticky, manual, and a trait for your own.

use crate::message::{Record, TopicName};
use crate::rng::Rng;
use std::fmt;
use std::sync::Arc;

/// Chooses a partition for a record. One instance serves one topic.
pub trait Partitioner: Send + fmt::Debug {
    /// A partition in `0..partition_count` for `record`, or a reason it has none.
    fn partition(&mut self, record: &Record, partition_count: i32) -> Result<i32, String>;

    /// Whether the same record must always map to the same partition (key hashing): if so, the
    /// core waits for an unavailable partition instead of choosing another.
    fn requires_consistency(&self) -> bool {
        false
    }

    /// Whether this particular `record` must map to the same partition whatever the leaders
    /// are. When it need not, the core hands the partitioner only the partitions that have a
    /// leader (as the Java client's built-in partitioner and Sarama's `WritablePartitions`
    /// do): `partition_count` is then the number of those, and the index chosen is mapped onto
    /// them. Defaults to [`Partitioner::requires_consistency`]; the built-in key hashers
    /// (murmur2, FNV-1a) answer `true` only for records with a key, so keyless records still
    /// avoid leaderless partitions.
    fn requires_consistency_for(&self, _record: &Record) -> bool {
        self.requires_consistency()
    }

    /// Told when the core seals a batch for this topic; the sticky partitioner moves on here.
    fn on_batch_sealed(&mut self) {}
}

/// Builds a custom partitioner for a topic from a seed.
pub type PartitionerFactory = Arc<dyn Fn(&TopicName, u64) -> Box<dyn Partitioner> + Send + Sync>;

/// The `partitioner` setting.
#[derive(Clone, Default)]
pub enum PartitionerConfig {
    /// The Java client's default: murmur2 of the key, as Java computes it, for keyed records;
    /// sticky for records without a key.
    #[default]
    Murmur2,
    /// The original Go client's hash partitioner: FNV-1a (32-bit) of the key; random for records
    /// without a key.
    Fnv1a,
    /// A seeded random partition per record.
    Random,
    /// Partitions in turn.
    RoundRobin,
    /// One partition until a batch is sealed, then another (random, seeded).
    Sticky,
    /// The record's own `partition`; a record without one fails.
    Manual,
    /// Your own.
    Custom(PartitionerFactory),
}

impl fmt::Debug for PartitionerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionerConfig::Murmur2 => "Murmur2",
            PartitionerConfig::Fnv1a => "Fnv1a",
            PartitionerConfig::Random => "Random",
            PartitionerConfig::RoundRobin => "RoundRobin",
            PartitionerConfig::Sticky => "Sticky",
            PartitionerConfig::Manual => "Manual",
            PartitionerConfig::Custom(_) => "Custom",
        })
    }
}

impl PartitionerConfig {
    /// The partitioner for `topic`, seeded with `seed`.
    ///
    /// Every built-in partitioner returns an error string when `partition_count < 1`; the
    /// random choices (sticky, random, the keyless paths of murmur2 and fnv1a) come from a
    /// [`Rng`] seeded with `seed`, so equal seeds give equal choices.
    pub fn build(&self, topic: &TopicName, seed: u64) -> Box<dyn Partitioner> {
        match self {
            PartitionerConfig::Murmur2 => Box::new(Murmur2Partitioner {
                sticky: StickyPartitioner::new(seed),
            }),
            PartitionerConfig::Fnv1a => Box::new(Fnv1aPartitioner {
                random: RandomPartitioner::new(seed),
            }),
            PartitionerConfig::Random => Box::new(RandomPartitioner::new(seed)),
            PartitionerConfig::RoundRobin => Box::new(RoundRobinPartitioner { next: 0 }),
            PartitionerConfig::Sticky => Box::new(StickyPartitioner::new(seed)),
            PartitionerConfig::Manual => Box::new(ManualPartitioner),
            PartitionerConfig::Custom(factory) => factory(topic, seed),
        }
    }
}

/// Kafka's murmur2 as the Java client computes it (seed 0x9747b28c), over `data`.
///
/// Same as `org.apache.kafka.common.utils.Utils.murmur2`: 32-bit MurmurHash2 with the seed
/// mixed with the length, little-endian 4-byte blocks, the 1–3 tail bytes folded in unsigned,
/// then the final avalanche; wrapping arithmetic throughout, result read as a signed int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java computes `seed ^ length` with an int length.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's partition for a keyed record: `toPositive(murmur2(key)) % partition_count`
/// (`toPositive` clears the sign bit). `partition_count` must be at least 1.
pub fn java_partition(key: &[u8], partition_count: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partition_count.max(1)
}

/// 32-bit FNV-1a over `data`.
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Sarama's hash partitioner's mapping: `int32(fnv1a32(key)) % partition_count`, negated
/// when negative (Go's `%` truncates towards zero, like Rust's). `partition_count` must be at
/// least 1.
pub fn sarama_partition(key: &[u8], partition_count: i32) -> i32 {
    let p = (fnv1a32(key) as i32) % partition_count.max(1);
    if p < 0 {
        -p
    } else {
        p
    }
}

fn check_count(partition_count: i32) -> Result<(), String> {
    if partition_count < 1 {
        Err(format!("topic has {partition_count} partitions"))
    } else {
        Ok(())
    }
}

/// Murmur2 for keyed records, sticky for the rest (the Java client's default).
#[derive(Debug)]
struct Murmur2Partitioner {
    sticky: StickyPartitioner,
}

impl Partitioner for Murmur2Partitioner {
    fn partition(&mut self, record: &Record, partition_count: i32) -> Result<i32, String> {
        check_count(partition_count)?;
        match &record.key {
            Some(key) => Ok(java_partition(key, partition_count)),
            None => self.sticky.partition(record, partition_count),
        }
    }

    fn requires_consistency(&self) -> bool {
        true
    }

    fn requires_consistency_for(&self, record: &Record) -> bool {
        record.key.is_some()
    }

    fn on_batch_sealed(&mut self) {
        self.sticky.on_batch_sealed();
    }
}

/// FNV-1a for keyed records (Sarama's hash partitioner), random for the rest.
#[derive(Debug)]
struct Fnv1aPartitioner {
    random: RandomPartitioner,
}

impl Partitioner for Fnv1aPartitioner {
    fn partition(&mut self, record: &Record, partition_count: i32) -> Result<i32, String> {
        check_count(partition_count)?;
        match &record.key {
            Some(key) => Ok(sarama_partition(key, partition_count)),
            None => self.random.partition(record, partition_count),
        }
    }

    fn requires_consistency(&self) -> bool {
        true
    }

    fn requires_consistency_for(&self, record: &Record) -> bool {
        record.key.is_some()
    }
}

/// A seeded random partition per record.
#[derive(Debug)]
struct RandomPartitioner {
    rng: Rng,
}

impl RandomPartitioner {
    fn new(seed: u64) -> Self {
        RandomPartitioner {
            rng: Rng::new(seed),
        }
    }
}

impl Partitioner for RandomPartitioner {
    fn partition(&mut self, _record: &Record, partition_count: i32) -> Result<i32, String> {
        check_count(partition_count)?;
        Ok(self.rng.below(partition_count as u64) as i32)
    }
}

/// 0, 1, 2, ... wrapping at the partition count.
#[derive(Debug)]
struct RoundRobinPartitioner {
    next: u32,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(&mut self, _record: &Record, partition_count: i32) -> Result<i32, String> {
        check_count(partition_count)?;
        let p = (self.next % partition_count as u32) as i32;
        self.next = (p as u32).wrapping_add(1);
        Ok(p)
    }
}

/// One random partition until a batch is sealed, then a different random one.
#[derive(Debug)]
struct StickyPartitioner {
    rng: Rng,
    current: Option<i32>,
    /// Set by `on_batch_sealed`: choose again on the next record, avoiding `current`.
    move_on: bool,
}

impl StickyPartitioner {
    fn new(seed: u64) -> Self {
        StickyPartitioner {
            rng: Rng::new(seed),
            current: None,
            move_on: false,
        }
    }
}

impl Partitioner for StickyPartitioner {
    fn partition(&mut self, _record: &Record, partition_count: i32) -> Result<i32, String> {
        check_count(partition_count)?;
        let n = partition_count as u64;
        let chosen = match self.current {
            Some(p) if p < partition_count && !self.move_on => p,
            Some(old) if old < partition_count && n > 1 => {
                // A new partition, never the one just left (as KIP-480's sticky partitioner).
                let pick = self.rng.below(n - 1) as i32;
                if pick >= old {
                    pick + 1
                } else {
                    pick
                }
            }
            _ => self.rng.below(n) as i32,
        };
        self.current = Some(chosen);
        self.move_on = false;
        Ok(chosen)
    }

    fn on_batch_sealed(&mut self) {
        if self.current.is_some() {
            self.move_on = true;
        }
    }
}

/// The record's own partition.
#[derive(Debug)]
struct ManualPartitioner;

impl Partitioner for ManualPartitioner {
    fn partition(&mut self, record: &Record, partition_count: i32) -> Result<i32, String> {
        match record.partition {
            None => Err("the manual partitioner needs the record's partition".to_string()),
            Some(p) if p < 0 || p >= partition_count => Err(format!(
                "partition {p} out of range: the topic has {partition_count} partitions"
            )),
            Some(p) => Ok(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn keyed(key: &'static [u8]) -> Record {
        Record::new("t").key(Bytes::from_static(key))
    }

    #[test]
    fn murmur2_matches_java_utils_test() {
        // org.apache.kafka.common.utils.UtilsTest#testMurmur2
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, want) in cases {
            assert_eq!(murmur2(input), want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn java_partition_is_to_positive_modulo() {
        // toPositive(-790332482) = 1357151166; % 10 = 6, % 7 = 1357151166 - 7*193878738 = 0.
        assert_eq!(java_partition(b"foobar", 10), 6);
        assert_eq!(java_partition(b"foobar", 7), 0);
        let mut p = PartitionerConfig::Murmur2.build(&TopicName::from("t"), 1);
        assert_eq!(p.partition(&keyed(b"foobar"), 10), Ok(6));
        assert!(p.requires_consistency());
    }

    #[test]
    fn fnv1a32_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn sarama_mapping_negates_negative_remainders() {
        // int32(0xe40c292c) = -468965076; % 7 = -6 (truncating); negated: 6. (Java-style
        // masking would give 1678518572 % 7 = 3.)
        assert_eq!(sarama_partition(b"a", 7), 6);
        let mut p = PartitionerConfig::Fnv1a.build(&TopicName::from("t"), 1);
        assert_eq!(p.partition(&keyed(b"a"), 7), Ok(6));
        assert!(p.requires_consistency());
        for n in 1..50 {
            let got = sarama_partition(b"foobar", n);
            assert!((0..n).contains(&got));
        }
    }

    #[test]
    fn keyed_hashing_is_deterministic_and_in_range() {
        for config in [PartitionerConfig::Murmur2, PartitionerConfig::Fnv1a] {
            let mut a = config.build(&TopicName::from("t"), 1);
            let mut b = config.build(&TopicName::from("t"), 999);
            for i in 0..500u32 {
                let r = Record::new("t").key(format!("key-{i}"));
                let pa = a.partition(&r, 13).unwrap();
                assert_eq!(pa, b.partition(&r, 13).unwrap(), "seed-independent");
                assert!((0..13).contains(&pa));
            }
        }
    }

    fn counts(p: &mut dyn Partitioner, n: i32, draws: usize) -> Vec<usize> {
        let mut c = vec![0; n as usize];
        let r = Record::new("t");
        for _ in 0..draws {
            c[p.partition(&r, n).unwrap() as usize] += 1;
        }
        c
    }

    #[test]
    fn random_is_uniform_and_seeded() {
        let topic = TopicName::from("t");
        let mut p = PartitionerConfig::Random.build(&topic, 42);
        let c = counts(&mut *p, 8, 80_000);
        for x in &c {
            assert!((9_000..11_000).contains(x), "{c:?}");
        }
        let mut a = PartitionerConfig::Random.build(&topic, 5);
        let mut b = PartitionerConfig::Random.build(&topic, 5);
        let mut other = PartitionerConfig::Random.build(&topic, 6);
        let r = Record::new("t");
        let sa: Vec<i32> = (0..100).map(|_| a.partition(&r, 100).unwrap()).collect();
        let sb: Vec<i32> = (0..100).map(|_| b.partition(&r, 100).unwrap()).collect();
        let so: Vec<i32> = (0..100)
            .map(|_| other.partition(&r, 100).unwrap())
            .collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, so);
        // Keyless records under fnv1a are random too.
        let mut f = PartitionerConfig::Fnv1a.build(&topic, 42);
        let c = counts(&mut *f, 4, 4_000);
        assert!(c.iter().all(|&x| x > 800), "{c:?}");
    }

    #[test]
    fn round_robin_cycles_and_follows_count_changes() {
        let mut p = PartitionerConfig::RoundRobin.build(&TopicName::from("t"), 0);
        let r = Record::new("t");
        let got: Vec<i32> = (0..7).map(|_| p.partition(&r, 3).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        // The count shrinks: still in range, then keeps cycling.
        let got: Vec<i32> = (0..3).map(|_| p.partition(&r, 2).unwrap()).collect();
        assert_eq!(got, [1, 0, 1]);
    }

    #[test]
    fn sticky_stays_until_a_batch_is_sealed_then_moves() {
        for config in [PartitionerConfig::Sticky, PartitionerConfig::Murmur2] {
            let topic = TopicName::from("t");
            let mut p = config.build(&topic, 7);
            let r = Record::new("t");
            let mut seen = std::collections::HashSet::new();
            let mut prev = p.partition(&r, 6).unwrap();
            seen.insert(prev);
            for _ in 0..200 {
                for _ in 0..10 {
                    assert_eq!(p.partition(&r, 6).unwrap(), prev);
                }
                p.on_batch_sealed();
                let next = p.partition(&r, 6).unwrap();
                assert_ne!(next, prev, "moves to another partition");
                assert!((0..6).contains(&next));
                seen.insert(next);
                prev = next;
            }
            assert_eq!(seen.len(), 6, "visits every partition");
            // Same seed, same choices.
            let mut a = config.build(&topic, 3);
            let mut b = config.build(&topic, 3);
            for _ in 0..20 {
                assert_eq!(a.partition(&r, 6), b.partition(&r, 6));
                a.on_batch_sealed();
                b.on_batch_sealed();
            }
            // One partition: stays there.
            let mut one = config.build(&topic, 3);
            one.on_batch_sealed();
            assert_eq!(one.partition(&r, 1), Ok(0));
            one.on_batch_sealed();
            assert_eq!(one.partition(&r, 1), Ok(0));
            // Partition count shrinks below the sticky choice: a new one in range.
            let mut s = config.build(&topic, 11);
            let first = s.partition(&r, 100).unwrap();
            let shrunk = s.partition(&r, first.max(1)).unwrap();
            assert!(shrunk < first.max(1));
        }
        assert!(!PartitionerConfig::Sticky
            .build(&TopicName::from("t"), 0)
            .requires_consistency());
    }

    #[test]
    fn only_keyed_records_of_key_hashers_require_a_fixed_partition() {
        let topic = TopicName::from("t");
        let keyless = Record::new("t");
        let keyed = keyed(b"k");
        for (config, hashes) in [
            (PartitionerConfig::Murmur2, true),
            (PartitionerConfig::Fnv1a, true),
            (PartitionerConfig::Random, false),
            (PartitionerConfig::RoundRobin, false),
            (PartitionerConfig::Sticky, false),
        ] {
            let p = config.build(&topic, 0);
            assert!(!p.requires_consistency_for(&keyless), "{config:?}");
            assert_eq!(p.requires_consistency_for(&keyed), hashes, "{config:?}");
        }
        // A custom partitioner's answer defaults to its requires_consistency.
        #[derive(Debug)]
        struct Consistent;
        impl Partitioner for Consistent {
            fn partition(&mut self, _: &Record, _: i32) -> Result<i32, String> {
                Ok(0)
            }
            fn requires_consistency(&self) -> bool {
                true
            }
        }
        assert!(Consistent.requires_consistency_for(&keyless));
    }

    #[test]
    fn manual_uses_the_records_partition() {
        let mut p = PartitionerConfig::Manual.build(&TopicName::from("t"), 0);
        assert_eq!(p.partition(&Record::new("t").partition(2), 3), Ok(2));
        assert!(p.partition(&Record::new("t"), 3).is_err());
        assert!(p.partition(&Record::new("t").partition(3), 3).is_err());
        assert!(p.partition(&Record::new("t").partition(-1), 3).is_err());
    }

    #[test]
    fn no_partitions_is_an_error_not_a_panic() {
        let topic = TopicName::from("t");
        for config in [
            PartitionerConfig::Murmur2,
            PartitionerConfig::Fnv1a,
            PartitionerConfig::Random,
            PartitionerConfig::RoundRobin,
            PartitionerConfig::Sticky,
            PartitionerConfig::Manual,
        ] {
            let mut p = config.build(&topic, 0);
            assert!(p.partition(&Record::new("t"), 0).is_err(), "{config:?}");
            assert!(p.partition(&keyed(b"k"), -1).is_err(), "{config:?}");
        }
    }

    #[test]
    fn custom_factory_is_called_with_topic_and_seed() {
        #[derive(Debug)]
        struct Fixed(i32);
        impl Partitioner for Fixed {
            fn partition(&mut self, _: &Record, n: i32) -> Result<i32, String> {
                Ok(self.0 % n)
            }
        }
        let config = PartitionerConfig::Custom(Arc::new(|topic: &TopicName, seed: u64| {
            Box::new(Fixed(topic.len() as i32 + seed as i32)) as Box<dyn Partitioner>
        }));
        let mut p = config.build(&TopicName::from("abcd"), 3);
        assert_eq!(p.partition(&Record::new("abcd"), 100), Ok(7));
        assert_eq!(format!("{config:?}"), "Custom");
    }
}
