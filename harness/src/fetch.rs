//! Kafka's jars from Maven Central (`kafka/<ver>/pom.xml` into `.kafka/<ver>/lib`), checked
//! for the main classes the harness runs, and `java` commands for Kafka's tools.

use crate::{err, io_ctx, lib_dir, workspace_root, Result, Version, TOOL_HEAP_ENV};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// 64-bit FNV-1a: a stable content hash (std's `DefaultHasher` is not stable across releases).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
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
    let full = version.release();
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

pub(crate) fn java_tool_cp(version: Version, classpath: String, main: &str) -> Command {
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
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<String> {
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
