//! The steps of `cargo xtask test` that check odradek as a library others depend on (issue 25):
//! the docs build without warnings, every publishable crate packages, the stated MSRV builds
//! them, and `cargo deny` accepts every dependency's license, source and (when its database
//! can be fetched) advisories.

use crate::{cargo, run_step, status, Step};
use std::process::Command;

/// The crates published to crates.io; every other workspace member is `publish = false`.
pub const PUBLISHED: [&str; 7] = [
    "odradek-core",
    "odradek-sim",
    "odradek-driver",
    "odradek-tokio",
    "odradek-async-std",
    "odradek-smol",
    "odradek-mio",
];

/// The MSRV: the workspace's `rust-version`, which the published crates inherit. The newest
/// `rust-version` among their dependencies (tokio, getrandom, zeroize) is 1.85.
pub const MSRV: &str = "1.85";

/// Runs the four steps, each recorded in `steps`.
pub fn steps(steps: &mut Vec<Step>) {
    run_step(
        steps,
        "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --workspace",
        || {
            let mut c = cargo();
            c.args(["doc", "--no-deps", "--workspace"])
                .env("RUSTDOCFLAGS", "-D warnings");
            status(c)
        },
    );
    run_step(
        steps,
        "cargo package --no-verify (every published crate) and a build of the packages",
        package,
    );
    run_step(
        steps,
        &format!("cargo +{MSRV} check (the MSRV, the published crates)"),
        msrv,
    );
    run_step(steps, "cargo deny check", deny);
}

/// `cargo package` of every published crate. They depend on each other at versions not on
/// crates.io, so each is packaged without cargo's own verification (which would resolve
/// `odradek-core 0.1.0` from crates.io), and the packages are then built together: the
/// `.crate` files unpacked into a workspace of their own whose path dependencies are the
/// unpacked packages, so a file missing from a package fails the build.
fn package() -> Result<(), String> {
    let root = crate::kafka::workspace_root();
    let mut c = cargo();
    c.args(["package", "--no-verify", "--allow-dirty", "--locked"]);
    for p in PUBLISHED {
        c.args(["-p", p]);
    }
    status(c)?;
    let version = workspace_version(&root)?;
    let work = root.join("target/package/odradek-verify");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut patch = String::from("[patch.crates-io]\n");
    for p in PUBLISHED {
        let file = root.join(format!("target/package/{p}-{version}.crate"));
        let mut tar = Command::new("tar");
        tar.arg("xzf").arg(&file).arg("-C").arg(&work);
        status(tar).map_err(|e| format!("unpacking {}: {e}", file.display()))?;
        patch.push_str(&format!("{p} = {{ path = \"{p}-{version}\" }}\n"));
    }
    let members: Vec<String> = PUBLISHED
        .iter()
        .map(|p| format!("\"{p}-{version}\""))
        .collect();
    let manifest = format!(
        // The root's dev profile for dependencies, so their check artifacts (left by the
        // clippy step in the same target directory) are reused instead of built again.
        "[workspace]\nresolver = \"2\"\nmembers = [{}]\n\n{patch}\n\
         [profile.dev.package.\"*\"]\nopt-level = 2\n",
        members.join(", ")
    );
    std::fs::write(work.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    // The workspace's lock file, so the packages build with the versions CI tests.
    std::fs::copy(root.join("Cargo.lock"), work.join("Cargo.lock")).map_err(|e| e.to_string())?;
    let mut c = cargo();
    c.current_dir(&work)
        .args(["check", "--workspace", "--target-dir"])
        .arg(root.join("target"));
    status(c)
}

/// The `version` of `[workspace.package]` in the root Cargo.toml.
fn workspace_version(root: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    text.lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| {
            let v = l.trim().strip_prefix("version")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| "no version in [workspace.package]".into())
}

/// The published crates checked with the MSRV toolchain (installed with rustup, minimal
/// profile, when missing), with the lock file's versions, in a target directory of its own.
fn msrv() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["run", MSRV, "cargo", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        let mut c = Command::new("rustup");
        c.args(["toolchain", "install", MSRV, "--profile", "minimal"]);
        status(c)?;
    }
    let root = crate::kafka::workspace_root();
    let mut c = Command::new("rustup");
    c.current_dir(&root)
        .args(["run", MSRV, "cargo", "check", "--locked", "--target-dir"])
        .arg(root.join("target/msrv"))
        // The toolchain's own cargo and rustc, not the ones running xtask.
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN");
    for p in PUBLISHED {
        c.args(["-p", p]);
    }
    status(c)
}

/// `cargo deny check` with deny.toml: licenses, bans and sources always; advisories when
/// the RustSec database can be fetched (`cargo deny fetch`), else skipped with a note.
/// Installs cargo-deny (`cargo install cargo-deny --locked`) only when it is missing.
fn deny() -> Result<(), String> {
    let present = cargo()
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("deny: installing cargo-deny (cargo install cargo-deny --locked)");
        let mut c = cargo();
        c.args(["install", "cargo-deny", "--locked"]);
        status(c)?;
    }
    let mut c = cargo();
    c.args([
        "deny",
        "check",
        "--hide-inclusion-graph",
        "licenses",
        "bans",
        "sources",
    ]);
    status(c)?;
    let mut fetch = cargo();
    fetch.args(["deny", "fetch", "db"]);
    if status(fetch).is_ok() {
        // The database just fetched; `--offline` keeps check from fetching it again.
        let mut c = cargo();
        c.args([
            "deny",
            "--offline",
            "check",
            "--hide-inclusion-graph",
            "advisories",
        ]);
        status(c)
    } else {
        eprintln!("deny: advisories skipped: the RustSec database could not be fetched");
        Ok(())
    }
}
