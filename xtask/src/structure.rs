//! `cargo xtask structure`: the shape rules of odradek-core's sources (issue 22): no file of
//! `core/src` over [`MAX_LINES`] lines, and no type whose inherent methods (`impl T { .. }`,
//! not trait impls) are spread over more than [`MAX_IMPL_FILES`] files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines one file of `core/src` may have.
pub const MAX_LINES: usize = 800;

/// The most files one type's inherent methods may be spread over.
pub const MAX_IMPL_FILES: usize = 3;

/// Files (relative to `core/src`) allowed over [`MAX_LINES`] while a change in flight splits
/// them. Empty: every file is under the limit, and the check is a step of `cargo xtask test`.
const LONG_FILES_ALLOWED: &[&str] = &[];

/// Checks the rules under `root/core/src`; the error lists every breach.
pub fn check(root: &Path) -> Result<(), String> {
    let src = root.join("core/src");
    let mut files = Vec::new();
    collect(&src, &mut files)?;
    files.sort();
    let mut problems = Vec::new();
    let mut impls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(&src)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let lines = text.lines().count();
        if lines > MAX_LINES && !LONG_FILES_ALLOWED.contains(&rel.as_str()) {
            problems.push(format!(
                "core/src/{rel}: {lines} lines (at most {MAX_LINES})"
            ));
        }
        for line in text.lines() {
            if let Some(ty) = inherent_impl(line) {
                impls.entry(ty.to_owned()).or_default().insert(rel.clone());
            }
        }
    }
    for (ty, in_files) in &impls {
        if in_files.len() > MAX_IMPL_FILES {
            let list: Vec<&str> = in_files.iter().map(String::as_str).collect();
            problems.push(format!(
                "{ty}: inherent methods in {} files (at most {MAX_IMPL_FILES}): {}",
                in_files.len(),
                list.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The type a line opens an inherent impl block of (`impl T {`, `impl<A> T<A> {`), if it
/// does; trait impls (`impl X for T`) and anything else give `None`.
fn inherent_impl(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("impl")?;
    if !(rest.starts_with('<') || rest.starts_with(char::is_whitespace)) {
        return None; // `implement`, not `impl`
    }
    let trimmed = skip_generics(rest)?.trim_start();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    let (ty, after) = trimmed.split_at(end);
    if !ty.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let after = skip_generics(after)?;
    after.trim_start().starts_with('{').then_some(ty)
}

/// `s` after a leading `<...>` (one level, as the rule's pattern allows), or `s` itself.
fn skip_generics(s: &str) -> Option<&str> {
    match s.strip_prefix('<') {
        Some(inner) => inner.find('>').map(|i| &inner[i + 1..]),
        None => Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::inherent_impl;

    #[test]
    fn inherent_impls_are_found_and_trait_impls_are_not() {
        assert_eq!(inherent_impl("impl ProducerCore {"), Some("ProducerCore"));
        assert_eq!(inherent_impl("    impl Outbox {"), Some("Outbox"));
        assert_eq!(inherent_impl("impl<'a> Io<'a> {"), Some("Io"));
        assert_eq!(inherent_impl("impl<T> Wrapper<T> {"), Some("Wrapper"));
        assert_eq!(inherent_impl("impl Default for Outbox {"), None);
        assert_eq!(inherent_impl("impl std::fmt::Debug for TopicState {"), None);
        assert_eq!(inherent_impl("implement Foo {"), None);
        assert_eq!(inherent_impl("impl lower {"), None);
        assert_eq!(inherent_impl("// impl Foo {"), None);
    }
}
