//! What /proc says about this process: its resident memory and CPU time (the server's, as
//! it runs in this process) and how many subscribers its limit on open files allows.

use anyhow::Context;

/// This process's resident memory, from /proc.
pub(super) fn resident_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// CPU time this process has used, from /proc.
pub(super) fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / 100.0)
}

/// Subscribers one process can hold: its limit on open files, less what it has open and a
/// margin for the database, Redis and the listener.
pub fn max_subscribers() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    let open = std::fs::read_dir("/proc/self/fd").map_or(64, |fds| fds.count());
    limit.saturating_sub(open + 128)
}
