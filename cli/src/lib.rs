//! # odradek-cli
//!
//! The `odradek` command line:
//!
//! * `odradek produce --bootstrap-server ADDR --topic T [-X key=value]... [--file F]
//!   [--key-delimiter D] [--header k=v]... [--partition P]`: one record per line from stdin or
//!   a file, like `kcat -P`; progress on stderr; exits 1 with a summary if any record failed.
//! * `odradek perf --topic T --num-records N --record-size S --throughput -1 --producer-props
//!   k=v...`: a load generator in the style of Kafka's `kafka-producer-perf-test`
//!   (`ProducerPerformance`), with the same names and the same output lines.
//!
//! Both take `--runtime tokio|async-std|mio` (tokio by default) and Kafka's configuration
//! names (see [`odradek_core::properties`]).
#![warn(missing_docs)]

#[cfg(feature = "alloc-stats")]
pub mod alloc_stats;
pub mod args;
pub mod chart;
pub mod histogram;
pub mod lines;
pub mod perf;
pub mod produce;

use odradek_core::Config;

/// Which adapter runs the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// `odradek_tokio::Producer` on a two-worker tokio runtime.
    Tokio,
    /// `odradek_async_std::Producer`.
    AsyncStd,
    /// `odradek_mio::BlockingProducer` (its own I/O thread).
    Mio,
}

impl RuntimeKind {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::AsyncStd => "async-std",
            RuntimeKind::Mio => "mio",
        }
    }
}

/// Splits `key=value`; the error names the argument.
pub fn split_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Builds a configuration: `base` first, then the pairs of a `.properties` file (if given),
/// then `pairs` (so `-X` wins over the file), and finally `bootstrap` (if given) as
/// `bootstrap.servers`. The result is validated.
pub fn build_config(
    base: Config,
    properties_file: Option<&std::path::Path>,
    pairs: &[(String, String)],
    bootstrap: Option<&str>,
) -> Result<Config, String> {
    let mut config = base;
    if let Some(path) = properties_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file_pairs = odradek_core::parse_properties(&text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        config
            .apply_properties(file_pairs)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    config
        .apply_properties(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    if let Some(b) = bootstrap {
        config
            .apply_properties([("bootstrap.servers", b)])
            .map_err(|e| e.to_string())?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// A tokio runtime for the CLI: two workers (the machine this was tuned on has two cores),
/// IO and time drivers on.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use odradek_core::{Acks, Compression};

    #[test]
    fn pairs_and_config_layers() {
        assert_eq!(split_pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(split_pair("novalue").is_err());
        assert!(split_pair("=v").is_err());

        let dir = std::env::temp_dir().join(format!("odradek-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.properties");
        std::fs::write(&file, "acks=1\ncompression.type=gzip\nlinger.ms=9\n").unwrap();
        let c = build_config(
            Config::new(Vec::<String>::new()),
            Some(&file),
            &[("compression.type".into(), "lz4".into())],
            Some("a:1,b:2"),
        )
        .unwrap();
        assert_eq!(c.acks, Acks::Leader);
        assert_eq!(c.compression, Compression::Lz4);
        assert_eq!(c.linger.as_millis(), 9);
        assert_eq!(c.bootstrap_servers, ["a:1", "b:2"]);

        let e = build_config(
            Config::new(["a:1"]),
            None,
            &[("lingr.ms".into(), "1".into())],
            None,
        )
        .unwrap_err();
        assert!(e.contains("lingr.ms"), "{e}");
        let e = build_config(Config::new(Vec::<String>::new()), None, &[], None).unwrap_err();
        assert!(e.contains("bootstrap.servers"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
