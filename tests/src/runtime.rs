//! The adapters by name, as the demo, chaos and bench command lines write them.

use std::fmt;

/// Which adapter drives a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// odradek-tokio.
    Tokio,
    /// odradek-async-std.
    AsyncStd,
    /// odradek-smol.
    Smol,
    /// odradek-mio (its BlockingProducer or MioProducer).
    Mio,
}

impl Runtime {
    /// The adapters `all` names (chaos), in the order runs take them. odradek-smol runs the
    /// same driver as tokio and async-std and is named on its own (`smol`), so that `all` costs
    /// no more.
    pub const ALL: [Runtime; 3] = [Runtime::Tokio, Runtime::AsyncStd, Runtime::Mio];

    /// The name on the command line: `tokio`, `async-std`, `mio`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tokio => "tokio",
            Runtime::AsyncStd => "async-std",
            Runtime::Smol => "smol",
            Runtime::Mio => "mio",
        }
    }

    /// Parses a name (also `async_std`, and `blocking` for mio).
    pub fn parse(s: &str) -> Result<Runtime, String> {
        match s {
            "async_std" => Ok(Runtime::AsyncStd),
            "blocking" => Ok(Runtime::Mio),
            "smol" => Ok(Runtime::Smol),
            _ => Runtime::ALL
                .into_iter()
                .find(|r| r.name() == s)
                .ok_or_else(|| format!("unknown runtime {s:?} (tokio, async-std, smol, mio)")),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Runtime;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for r in Runtime::ALL {
            assert_eq!(Runtime::parse(r.name()), Ok(r));
            assert_eq!(r.to_string(), r.name());
        }
        assert_eq!(Runtime::parse("async_std"), Ok(Runtime::AsyncStd));
        assert_eq!(Runtime::parse("blocking"), Ok(Runtime::Mio));
        assert_eq!(Runtime::parse("smol"), Ok(Runtime::Smol));
        assert_eq!(Runtime::Smol.to_string(), "smol");
        assert!(Runtime::parse("glommio").unwrap_err().contains("smol"));
    }
}
