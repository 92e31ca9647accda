//! `bootstrap.servers` resolved at `connect`: a list none of whose entries resolves is a
//! [`BootstrapError`] there, not records timing out two minutes later (the Java client's
//! "No resolvable bootstrap urls given in bootstrap.servers"). As in Java, entries that do not
//! resolve are fine while one does (a `tracing` warning names them). Shared by every adapter:
//! the async driver resolves with its runtime ([`Runtime::resolve`]), odradek-mio with
//! [`std::net::ToSocketAddrs`] ([`check_blocking`]).

use crate::runtime::Runtime;
use odradek_core::config::parse_host_port;
use odradek_core::{Config, ConfigError};
use std::fmt;
use std::io;
use std::net::ToSocketAddrs;

/// No entry of `bootstrap.servers` resolves to an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BootstrapError {
    /// Each entry, with why it did not resolve.
    pub unresolved: Vec<(String, String)>,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no resolvable bootstrap urls given in bootstrap.servers:")?;
        for (i, (entry, why)) in self.unresolved.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{entry} ({why})")?;
        }
        Ok(())
    }
}

/// Checks `config` and resolves every bootstrap entry with `resolve` (how many addresses a
/// `host`, `port` gives), in order. `Ok` when at least one entry gave an address.
pub(crate) fn check<F>(config: &Config, mut resolve: F) -> Result<(), BootstrapOrConfig>
where
    F: FnMut(&str, u16) -> io::Result<usize>,
{
    let mut unresolved = Vec::new();
    let mut any = false;
    for entry in &config.bootstrap_servers {
        let (host, port) = parse_host_port(entry).map_err(BootstrapOrConfig::Config)?;
        match resolve(&host, port) {
            Ok(n) if n > 0 => any = true,
            Ok(_) => unresolved.push((entry.clone(), "no addresses".to_owned())),
            Err(e) => unresolved.push((entry.clone(), e.to_string())),
        }
    }
    finish(any, unresolved)
}

fn finish(any: bool, unresolved: Vec<(String, String)>) -> Result<(), BootstrapOrConfig> {
    if any {
        for (entry, why) in &unresolved {
            tracing::warn!(target: crate::observe::TARGET, entry = %entry, reason = %why,
                "bootstrap server does not resolve; using the others");
        }
        Ok(())
    } else {
        Err(BootstrapOrConfig::Bootstrap(BootstrapError { unresolved }))
    }
}

/// What the bootstrap check ([`check_blocking`], [`check_async`]) refuses a configuration for.
#[derive(Debug)]
pub enum BootstrapOrConfig {
    /// An entry is not `host:port` (or the list is empty).
    Config(ConfigError),
    /// No entry resolves.
    Bootstrap(BootstrapError),
}

/// Validates `config`, then resolves its bootstrap servers with [`ToSocketAddrs`] (which
/// blocks on DNS): the check odradek-mio makes when a producer is created.
pub fn check_blocking(config: &Config) -> Result<(), BootstrapOrConfig> {
    config.validate().map_err(BootstrapOrConfig::Config)?;
    check(config, |host, port| {
        (host, port).to_socket_addrs().map(|it| it.count())
    })
}

impl From<BootstrapOrConfig> for crate::ConnectError {
    fn from(e: BootstrapOrConfig) -> Self {
        match e {
            BootstrapOrConfig::Config(e) => crate::ConnectError::Config(e),
            BootstrapOrConfig::Bootstrap(e) => crate::ConnectError::Bootstrap(e),
        }
    }
}

/// The async producer's check at `connect`: [`check_async`] as a [`crate::ConnectError`].
pub(crate) async fn resolve_at_connect<R: Runtime>(
    runtime: &R,
    config: &Config,
) -> Result<(), crate::ConnectError> {
    Ok(check_async(runtime, config).await?)
}

/// Validates `config`, then resolves its bootstrap servers with `runtime`'s resolver.
pub async fn check_async<R: Runtime>(
    runtime: &R,
    config: &Config,
) -> Result<(), BootstrapOrConfig> {
    config.validate().map_err(BootstrapOrConfig::Config)?;
    let mut unresolved = Vec::new();
    let mut any = false;
    for entry in &config.bootstrap_servers {
        let (host, port) = parse_host_port(entry).map_err(BootstrapOrConfig::Config)?;
        match runtime.resolve(&host, port).await {
            Ok(addrs) if !addrs.is_empty() => any = true,
            Ok(_) => unresolved.push((entry.clone(), "no addresses".to_owned())),
            Err(e) => unresolved.push((entry.clone(), e.to_string())),
        }
    }
    finish(any, unresolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_resolving_is_an_error_naming_each_entry() {
        let config = Config::new(["a.invalid:9092,b.invalid:9093"]);
        let err = match check(&config, |_, _| Err(io::ErrorKind::NotFound.into())) {
            Err(BootstrapOrConfig::Bootstrap(e)) => e,
            other => panic!("{other:?}"),
        };
        let entries: Vec<&str> = err.unresolved.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(entries, ["a.invalid:9092", "b.invalid:9093"]);
        let text = err.to_string();
        assert!(text.starts_with("no resolvable bootstrap urls"), "{text}");
        assert!(text.contains("a.invalid:9092") && text.contains("b.invalid:9093"));
    }

    #[test]
    fn one_resolving_entry_is_enough() {
        let config = Config::new(["a.invalid:9092", "good:1"]);
        let mut asked = Vec::new();
        let r = check(&config, |host, port| {
            asked.push((host.to_owned(), port));
            Ok(usize::from(host == "good"))
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(asked, [("a.invalid".into(), 9092), ("good".into(), 1)]);
    }

    #[test]
    fn the_real_resolver_refuses_an_invalid_name_and_takes_an_ip() {
        // RFC 2606: `.invalid` never resolves, so no network is needed for the answer.
        assert!(matches!(
            check_blocking(&Config::new(["broker.odradek.invalid:9092"])),
            Err(BootstrapOrConfig::Bootstrap(_))
        ));
        assert!(check_blocking(&Config::new(["broker.odradek.invalid:9092,127.0.0.1:9"])).is_ok());
        assert!(matches!(
            check_blocking(&Config::new(["no-port"])),
            Err(BootstrapOrConfig::Config(_))
        ));
    }
}
