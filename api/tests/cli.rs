//! The `curtain` binary as a user runs it: help, schema check, admin bootstrap.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn curtain(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curtain runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("curtain finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_command() {
    let output = curtain(&["--help"], None);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for command in ["serve", "migrate", "seed-demo", "schema", "admin", "reindex"] {
        assert!(help.contains(command), "{command} in {help}");
    }
}

#[test]
fn schema_check_passes_on_the_committed_schema() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let output = curtain(&["schema", "--check", "--file", file], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stale = std::env::temp_dir().join(format!("stale-{}.graphql", std::process::id()));
    std::fs::write(&stale, "type Query { old: Int }").expect("write");
    let output = curtain(
        &["schema", "--check", "--file", stale.to_str().unwrap_or_default()],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("regenerate"));
    std::fs::remove_file(stale).ok();
}

#[test]
fn admin_create_makes_one_admin_from_a_piped_password() {
    let dir = std::env::temp_dir().join(format!("curtain-cli-{}", std::process::id()));
    let dir_arg = dir.to_str().unwrap_or_default();
    let create = [
        "--data-dir",
        dir_arg,
        "admin",
        "create",
        "--email",
        "Boss@Curtain.test",
        "--name",
        "매표소",
    ];

    let weak = curtain(&create, Some("short\n"));
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak.stderr).contains("at least"), "{}", text(&weak.stderr));

    let created = curtain(&create, Some("a strong admin password\n"));
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("boss@curtain.test"));

    let again = curtain(&create, Some("a strong admin password\n"));
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reindex_builds_a_search_index_of_the_whole_catalog() {
    let dir = std::env::temp_dir().join(format!("curtain-reindex-{}", std::process::id()));
    let dir_arg = dir.to_str().unwrap_or_default();
    let seeded = curtain(&["--data-dir", dir_arg, "seed-demo"], None);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));

    let reindexed = curtain(&["--data-dir", dir_arg, "reindex"], None);
    assert!(reindexed.status.success(), "{}", text(&reindexed.stderr));
    assert!(
        text(&reindexed.stdout).contains("Indexed 53 "),
        "20 performances, 30 cast members, 3 venues: {}",
        text(&reindexed.stdout)
    );
    let current = std::fs::read_to_string(dir.join("search/CURRENT")).expect("CURRENT names the new index");
    assert!(dir.join("search").join(current.trim()).join("position.json").exists());
    std::fs::remove_dir_all(&dir).ok();
}
