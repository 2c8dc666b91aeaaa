//! A bench's child process, killed if the bench stops early, with its output read line by
//! line.

use std::io::{BufRead, BufReader};

use anyhow::Context;

/// A child process of a bench (subscribers here, the attacker of P8), killed if the bench
/// stops early.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Child {
    /// Its standard output, line by line, read on a thread of its own.
    pub(crate) fn lines(&mut self) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<String>> {
        let stdout = self.0.stdout.take().context("the child's output")?;
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
    }
}
