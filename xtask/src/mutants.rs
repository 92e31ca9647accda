//! `cargo xtask mutants`: applies each mutation of `xtask/mutants.txt` to the working tree,
//! runs the simulation suite, expects it to fail, and restores the file.
//!
//! File format, one block per mutation:
//!
//! ```text
//! == name
//! file: core/src/producer/partition.rs
//! find: <one exact line of the current source, must occur exactly once>
//! replace: <the replacement line>
//! ```
//!
//! `find` and `replace` are whole lines compared after trimming their indentation; the
//! replacement keeps the indentation of the line it replaces. Lines starting with `#` and
//! blank lines between blocks are ignored.
//!
//! The original file is copied to `target/xtask-mutants/` before it is edited and copied back
//! after the run, on success, failure or panic. Against Ctrl-C or a kill (std has no signal
//! handling), a watchdog shell started in its own process group waits for xtask to exit and
//! puts the backup back if it is still there; and every run starts by restoring any backup a
//! previous run left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    pub name: String,
    pub file: String,
    pub find: String,
    pub replace: String,
}

/// A block being read: name, then `file`, `find` and `replace` once seen.
type Partial = (String, Option<String>, Option<String>, Option<String>);

/// Parses the mutants file.
pub fn parse(text: &str) -> Result<Vec<Mutant>, String> {
    let mut out: Vec<Mutant> = Vec::new();
    let mut cur: Option<Partial> = None;
    let finish = |cur: Option<Partial>, out: &mut Vec<Mutant>| -> Result<(), String> {
        if let Some((name, file, find, replace)) = cur {
            let miss = |what: &str| format!("mutant {name}: no {what}: line");
            out.push(Mutant {
                file: file.ok_or_else(|| miss("file"))?,
                find: find.ok_or_else(|| miss("find"))?,
                replace: replace.ok_or_else(|| miss("replace"))?,
                name,
            });
        }
        Ok(())
    };
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(name) = line.strip_prefix("==") {
            finish(cur.take(), &mut out)?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("line {n}: a mutant needs a name"));
            }
            if out.iter().any(|m| m.name == name) {
                return Err(format!("line {n}: mutant {name} named twice"));
            }
            cur = Some((name.to_owned(), None, None, None));
            continue;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some(c) = cur.as_mut() else {
            return Err(format!("line {n}: {line:?} outside a `== name` block"));
        };
        let slot = if let Some(v) = line.strip_prefix("file:") {
            (&mut c.1, v)
        } else if let Some(v) = line.strip_prefix("find:") {
            (&mut c.2, v)
        } else if let Some(v) = line.strip_prefix("replace:") {
            (&mut c.3, v)
        } else {
            return Err(format!(
                "line {n}: expected file:, find: or replace:, got {line:?}"
            ));
        };
        if slot.0.is_some() {
            return Err(format!("line {n}: repeated field in mutant {}", c.0));
        }
        *slot.0 = Some(slot.1.trim().to_owned());
    }
    finish(cur, &mut out)?;
    Ok(out)
}

/// `source` with the one line equal to `find` (trimmed) replaced, or why not.
pub fn apply(source: &str, find: &str, replace: &str) -> Result<String, String> {
    let hits: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == find)
        .map(|(i, _)| i)
        .collect();
    if hits.len() != 1 {
        return Err(format!(
            "`find` occurs {} times (must be exactly once): {find:?}",
            hits.len()
        ));
    }
    let mut out = String::with_capacity(source.len() + replace.len());
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if i == hits[0] {
            let indent = &l[..l.len() - l.trim_start().len()];
            out.push_str(indent);
            out.push_str(replace);
            if l.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(l);
        }
    }
    Ok(out)
}

/// The violation count from the suite's summary line `sim: N seeds, N records, N violations`.
pub fn violations(stdout: &str) -> Option<u64> {
    stdout.lines().rev().find_map(|l| {
        let rest = l.strip_prefix("sim: ")?;
        let v = rest.strip_suffix(" violations")?;
        v.rsplit(", ").next()?.trim().parse().ok()
    })
}

fn backup_dir(root: &Path) -> PathBuf {
    root.join("target").join("xtask-mutants")
}

/// Puts back every backup an interrupted run left (`<dir>/<n>.orig` with `<n>.path`).
fn restore_leftovers(root: &Path) -> Result<(), String> {
    let dir = backup_dir(root);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "path") {
            let target = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let orig = p.with_extension("orig");
            if orig.exists() {
                fs::copy(&orig, target.trim())
                    .map_err(|e| format!("restoring {}: {e}", target.trim()))?;
                eprintln!(
                    "mutants: restored {} left by an interrupted run",
                    target.trim()
                );
                let _ = fs::remove_file(&orig);
            }
            let _ = fs::remove_file(&p);
        }
    }
    Ok(())
}

/// Restores the file when dropped (normal return, error or panic).
struct Restore {
    target: PathBuf,
    orig: PathBuf,
    path_note: PathBuf,
}

impl Drop for Restore {
    fn drop(&mut self) {
        match fs::copy(&self.orig, &self.target) {
            Ok(_) => {
                let _ = fs::remove_file(&self.orig);
                let _ = fs::remove_file(&self.path_note);
            }
            Err(e) => eprintln!(
                "mutants: could not restore {} from {}: {e} (copy it back by hand)",
                self.target.display(),
                self.orig.display()
            ),
        }
    }
}

fn watchdog(orig: &Path, target: &Path) {
    use std::os::unix::process::CommandExt;
    let script = "trap '' INT TERM HUP; while kill -0 \"$1\" 2>/dev/null; do sleep 0.2; done; \
                  if [ -f \"$2\" ]; then cp \"$2\" \"$3\" && rm -f \"$2\"; fi";
    let _ = Command::new("sh")
        .args(["-c", script, "mutants-watchdog"])
        .arg(std::process::id().to_string())
        .arg(orig)
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

/// Runs every mutant of `file` (relative to `root`); `seeds` overrides the suite's seed count.
pub fn run(root: &Path, file: &Path, seeds: Option<u64>, cargo: &str) -> Result<(), String> {
    restore_leftovers(root)?;
    let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mutants = parse(&text)?;
    if mutants.is_empty() {
        return Err(format!("{}: no mutants", file.display()));
    }
    let dir = backup_dir(root);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut failures = 0;
    for (i, m) in mutants.iter().enumerate() {
        let target = root.join(&m.file);
        let source =
            fs::read_to_string(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        let mutated = match apply(&source, &m.find, &m.replace) {
            Ok(s) => s,
            Err(e) => {
                println!("mutant {}: NOT caught ({} in {})", m.name, e, m.file);
                failures += 1;
                continue;
            }
        };
        let orig = dir.join(format!("{i}.orig"));
        let path_note = dir.join(format!("{i}.path"));
        fs::write(&orig, &source).map_err(|e| format!("{}: {e}", orig.display()))?;
        fs::write(&path_note, target.display().to_string())
            .map_err(|e| format!("{}: {e}", path_note.display()))?;
        let guard = Restore {
            target: target.clone(),
            orig: orig.clone(),
            path_note,
        };
        watchdog(&orig, &target);
        fs::write(&target, mutated).map_err(|e| format!("{}: {e}", target.display()))?;
        eprintln!(
            "mutants: {} applied to {}, running the suite",
            m.name, m.file
        );
        let mut c = Command::new(cargo);
        c.current_dir(root)
            .args(["test", "-p", "odradek-sim", "--test", "sim"])
            .env_remove("ODRADEK_SIM_SEED")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = seeds {
            c.env("ODRADEK_SIM_SEEDS", n.to_string());
        }
        let out = c.output();
        drop(guard);
        let out = out.map_err(|e| format!("could not run cargo test: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match violations(&stdout) {
            Some(n) if n > 0 && !out.status.success() => {
                println!("mutant {}: caught ({n} violations)", m.name)
            }
            Some(_) => {
                println!("mutant {}: NOT caught", m.name);
                failures += 1;
            }
            None => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
                eprintln!("mutants: no summary line; stderr ends:");
                for l in tail.iter().rev() {
                    eprintln!("    {l}");
                }
                println!(
                    "mutant {}: NOT caught (the suite did not run: {})",
                    m.name, out.status
                );
                failures += 1;
            }
        }
    }
    if failures == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failures} of {} mutant(s) not caught",
            mutants.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_and_applies_one_line() {
        let m = parse(
            "# comment\n== one\nfile: a.rs\nfind: x && y\nreplace: x\n\n== two\nfile: b.rs\n\
             find: a\nreplace: b\n",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "one");
        assert_eq!(m[0].find, "x && y");
        assert_eq!(m[1].replace, "b");
        let src = "fn f() {\n    x && y\n}\n";
        assert_eq!(apply(src, "x && y", "x").unwrap(), "fn f() {\n    x\n}\n");
        assert!(apply("a\na\n", "a", "b").is_err());
        assert!(apply("a\n", "c", "b").is_err());
        assert!(parse("== x\nfile: a\nfind: b\n").is_err());
        assert!(parse("file: a\n").is_err());
    }

    /// Every mutation of xtask/mutants.txt still applies to today's source: a refactor that
    /// renames or duplicates its line fails here, not at the next `cargo xtask mutants`.
    #[test]
    fn every_listed_mutation_applies_to_the_current_source() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = fs::read_to_string(root.join("xtask/mutants.txt")).unwrap();
        let mutants = parse(&text).unwrap();
        assert!(mutants.len() >= 5, "{mutants:?}");
        for m in mutants {
            let source = fs::read_to_string(root.join(&m.file)).unwrap();
            let mutated = apply(&source, &m.find, &m.replace)
                .unwrap_or_else(|e| panic!("mutant {}: {e}", m.name));
            assert_ne!(mutated, source, "mutant {} changes nothing", m.name);
        }
    }

    #[test]
    fn reads_the_summary_line() {
        assert_eq!(
            violations("FAIL ...\nsim: 5000 seeds, 123 records, 7 violations\n"),
            Some(7)
        );
        assert_eq!(violations("nothing"), None);
    }
}
