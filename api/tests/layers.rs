//! Keeps the layer map at the top of `src/lib.rs` true: every top-level module is on it, and
//! every `crate::…` path in `src/` names a module of a lower layer (or its own module).
//!
//! This reads the sources rather than the compiler's view, so it sees what a reader sees:
//! `use crate::x::…`, `use crate::{x, y}` and paths written inline. Doc comments may link
//! anywhere; they are not dependencies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The map: each layer's modules, highest layer first.
fn layers(lib: &str) -> Vec<Vec<String>> {
    let mut lines = lib.lines().skip_while(|line| !line.starts_with("//! ```text"));
    lines.next();
    lines
        .take_while(|line| !line.starts_with("//! ```"))
        .filter_map(|line| {
            let line = line.trim_start_matches("//!").trim();
            let (names, _what) = line.split_once(" — ")?;
            Some(names.split(',').map(|name| name.trim().to_string()).collect())
        })
        .collect()
}

/// The modules lib.rs declares, whatever their visibility or attributes
/// (`pub mod a;`, `pub(crate) mod b;`, `#[cfg(test)] mod c;`).
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter(|line| !line.starts_with(char::is_whitespace) && !line.starts_with("//"))
        .filter_map(|line| {
            let declaration = line.rsplit_once("] ").map_or(line, |(_, rest)| rest);
            let declaration = declaration
                .strip_prefix("pub(crate) ")
                .or_else(|| declaration.strip_prefix("pub "))
                .unwrap_or(declaration);
            declaration.strip_prefix("mod ")?.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a line of code names through `crate::`.
fn named_modules(code: &str) -> Vec<String> {
    names_after(code, "crate::")
}

/// The names a statement reaches through `prefix` (`crate::`, `crate::domain::`, `super::`):
/// `prefix`x, or each first-level name of a group `prefix`{a::b, c, d::{e, f}}.
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before_is_ident = rest[..at].chars().next_back().is_some_and(is_ident);
        rest = &rest[at + prefix.len()..];
        if before_is_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c, d::{e, f}}`: the names at the group's first level.
            let mut depth = 1;
            let mut expecting = true;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !name.is_empty() {
                            names.push(std::mem::take(&mut name));
                        }
                        expecting = true;
                    }
                    c if depth == 1 && expecting && is_ident(c) => name.push(c),
                    _ if depth == 1 && expecting && !name.is_empty() => {
                        names.push(std::mem::take(&mut name));
                        expecting = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                names.push(name);
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

/// A file's code without comments, as (first line number, text): one line each, but a
/// `use …{` group that spans lines (`use`, `pub use`, `pub(crate) use`) read as one.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut statement = String::new();
    let mut first_line = 0;
    for (number, line) in text.lines().enumerate() {
        let code = without_comment(line.trim_start());
        if code.trim().is_empty() {
            continue;
        }
        if statement.is_empty() {
            first_line = number + 1;
        }
        statement.push_str(code);
        statement.push(' ');
        let open = statement.matches('{').count() > statement.matches('}').count();
        if statement.contains("use ") && statement.contains("::{") && open && !code.ends_with(';') {
            continue;
        }
        found.push((first_line, std::mem::take(&mut statement)));
    }
    found
}

/// `line` without a trailing `//` comment (one outside a string literal).
fn without_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '/' if !in_string && previous == '/' => return &line[..at - 1],
            _ => {}
        }
        previous = c;
    }
    line
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let lib = std::fs::read_to_string(Path::new(SRC).join("lib.rs")).expect("src/lib.rs");
    let layers = layers(&lib);
    assert!(
        !layers.is_empty(),
        "src/lib.rs has no layer map (a ```text block of `a, b — what`)"
    );
    let rank: HashMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(rank, names)| names.iter().map(move |name| (name.as_str(), rank)))
        .collect();
    let mut declared = declared_modules(&lib);
    declared.sort();
    let mut mapped: Vec<String> = rank.keys().map(|name| name.to_string()).collect();
    mapped.sort();
    assert_eq!(
        declared, mapped,
        "the layer map must name every module lib.rs declares, once"
    );

    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(SRC).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a path")
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = rank.get(module) else {
            wrong.push(format!(
                "{}: module `{module}` is not on the layer map",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file");
        for (first_line, statement) in statements(&text) {
            for name in named_modules(&statement) {
                if name == module {
                    continue;
                }
                match rank.get(name.as_str()) {
                    Some(&other) if other > own => {}
                    Some(_) => wrong.push(format!(
                        "{}:{first_line}: `{module}` uses `{name}`, which is not below it",
                        relative.display()
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer map in src/lib.rs (move the code, or the map if the design changed):\n{}",
        wrong.join("\n")
    );
}

/// The domain's modules (`domain::holds`, `domain::waitlist`, …) a statement names: through
/// `crate::domain::x` anywhere, and `super::x` from a file directly in `domain/`.
fn domain_modules_named(code: &str, directly_in_domain: bool) -> Vec<String> {
    let mut names = names_after(code, "crate::domain::");
    if directly_in_domain {
        names.extend(names_after(code, "super::"));
    }
    names.retain(|name| name != "self" && name != "super");
    names
}

#[test]
fn the_domains_modules_call_each_other_one_way() {
    let domain = Path::new(SRC).join("domain");
    let mut files = Vec::new();
    rust_files(&domain, &mut files);
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&domain).expect("under domain/");
        let mut parts = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        let first = parts.next().expect("a path");
        if first == "mod.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs").to_string();
        // `super::` from `domain/x.rs` or `domain/x/mod.rs` is the domain itself.
        let directly_in_domain = relative.components().count() == 1 || relative.ends_with(format!("{module}/mod.rs"));
        let text = std::fs::read_to_string(file).expect("a source file");
        for (_, statement) in statements(&text) {
            for name in domain_modules_named(&statement, directly_in_domain) {
                if name != module {
                    calls.entry(module.clone()).or_default().insert(name);
                }
            }
        }
    }
    // Depth-first search for a way back to where it started.
    fn circle(
        calls: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut found = path[start..].to_vec();
            found.push(at.to_string());
            return Some(found);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_string());
        for next in calls.get(at).into_iter().flatten() {
            if let Some(found) = circle(calls, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in calls.keys() {
        if let Some(found) = circle(&calls, module, &mut Vec::new(), &mut done) {
            panic!(
                "the domain's modules call each other in a circle: {} (move what both need below them, \
                 as domain::reservations holds what every flow reads)",
                found.join(" → ")
            );
        }
    }
}

#[test]
fn the_scanner_reads_grouped_and_inline_paths() {
    assert_eq!(named_modules("use crate::error::ApiError;"), ["error"]);
    assert_eq!(
        named_modules("use crate::{config::Settings, db, live::{a, b}};"),
        ["config", "db", "live"]
    );
    assert_eq!(
        named_modules("let x = crate::ids::encode(crate::ids::NodeKind::Seat, 1);"),
        ["ids", "ids"]
    );
    assert!(named_modules("my_crate::state").is_empty());
    assert_eq!(
        declared_modules("pub mod a;\npub(crate) mod b;\n#[cfg(test)]\nmod c;\n#[cfg(test)] mod d;\n    mod inner;\n"),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        without_comment("let a = crate::db::x(); // see crate::state"),
        "let a = crate::db::x(); "
    );
    assert_eq!(
        without_comment("let url = \"http://x\"; // c"),
        "let url = \"http://x\"; "
    );
}
