//! The subscriber processes' reports added up: the table beside the goals and the figures
//! as JSON.

use serde_json::{Value, json};

use super::{BUCKET_MICROS, BUCKETS, Plan, Report};

pub(super) fn summarize(
    plan: Plan,
    reports: &[(usize, Report)],
    (before, during): (u64, u64),
    (cpu, elapsed): (f64, f64),
) -> anyhow::Result<Value> {
    let expected = (plan.subscribers * plan.changes) as u64;
    let sum = |f: fn(&Report) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    let (delivered, messages, resyncs, errors) = (
        sum(|r| r.delivered),
        sum(|r| r.messages),
        sum(|r| r.resyncs),
        sum(|r| r.errors),
    );
    let latency = |instance: Option<usize>| {
        let mut histogram = vec![0u64; BUCKETS];
        for (i, report) in reports {
            if instance.is_none_or(|wanted| wanted == *i) {
                for &(bucket, count) in &report.histogram {
                    histogram[bucket as usize] += count;
                }
            }
        }
        [0.0, 0.5, 0.99, 1.0].map(|q| percentile(&histogram, q))
    };
    let all = latency(None);
    let per_subscriber = during.saturating_sub(before) as f64 / plan.subscribers.max(1) as f64;
    let cpu_per_event_us = cpu * 1e6 / messages.max(1) as f64;
    let goal_p99 = if plan.rate > 1.5 { 500.0 } else { 250.0 };
    println!(
        "\nP4 live seat-map fan-out: {} WebSocket subscribers{}, {} changes at {}/s, {} instance(s)",
        plan.subscribers,
        if plan.coalesce { " (coalescing)" } else { "" },
        plan.changes,
        plan.rate,
        plan.instances
    );
    println!("| measure | curtain | goal |");
    println!("|---|---|---|");
    println!("| changes delivered in order / expected | {delivered} / {expected} | all |");
    println!("| deltas failing the check (gap or wrong seat) | {errors} | 0 |");
    println!("| resyncs (snapshots after the first) | {resyncs} | 0 |");
    println!("| WebSocket messages with deltas | {messages} | |");
    println!(
        "| delivery latency min / p50 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms | p99 ≤ {goal_p99} ms |",
        all[0], all[1], all[2], all[3]
    );
    let mut cross = Value::Null;
    if plan.instances > 1 {
        let (same, other) = (latency(Some(0)), latency(Some(1)));
        println!(
            "| p99 on the instance making the changes / on the other | {:.1} / {:.1} ms | other ≤ same + 100 ms |",
            same[2], other[2]
        );
        cross = json!({ "same_p99_ms": same[2], "other_p99_ms": other[2] });
    }
    println!(
        "| server resident memory before / with subscribers | {} / {} MiB | |",
        before / 1024,
        during / 1024
    );
    println!("| memory per subscriber (server process) | {per_subscriber:.1} KiB | ≤ 12 KiB |");
    println!(
        "| server CPU while changing seats | {:.2} cores, {cpu_per_event_us:.1} µs per message sent | |",
        cpu / elapsed
    );
    for (_, report) in reports {
        for error in &report.first_errors {
            println!("check failed: {error}");
        }
    }
    Ok(json!({
        "bench": "P4",
        "subscribers": plan.subscribers,
        "changes": plan.changes,
        "rate": plan.rate,
        "instances": plan.instances,
        "coalesce": plan.coalesce,
        "delivered": delivered,
        "expected": expected,
        "messages": messages,
        "errors": errors,
        "resyncs": resyncs,
        "min_ms": all[0],
        "p50_ms": all[1],
        "p99_ms": all[2],
        "max_ms": all[3],
        "cross_instance": cross,
        "kib_per_subscriber": per_subscriber,
        "cpu_cores": cpu / elapsed,
        "cpu_us_per_message": cpu_per_event_us,
    }))
}

/// The latency at quantile `q` of a histogram, in ms (the bucket's upper edge).
fn percentile(histogram: &[u64], q: f64) -> f64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return ((bucket as u64 + 1) * BUCKET_MICROS) as f64 / 1e3;
        }
    }
    (BUCKETS as u64 * BUCKET_MICROS) as f64 / 1e3
}
