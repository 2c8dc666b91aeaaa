//! Limits of GraphQL over WebSocket: what one socket, one account and one client address
//! may hold on an instance, and how long a socket may sit unused or silent.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketSettings {
    /// Largest message (and frame) a client may send, in bytes. A longer one closes the
    /// socket with 1009 as soon as its header announces the length: it is never read whole.
    pub max_message_bytes: usize,
    /// Operations (subscriptions, or queries in flight) one socket may run at once; one
    /// more is answered with an `error` message coded TOO_MANY_SUBSCRIPTIONS.
    pub max_subscriptions: usize,
    /// Sockets one client address may hold open on this instance; one more is refused with
    /// HTTP 429 and `Retry-After` before the upgrade. 0 means no limit.
    pub sockets_per_ip: usize,
    /// Logged-in sockets one account may hold on this instance; one more is closed with 4429
    /// at `connection_init`. 0 means no limit.
    pub sockets_per_account: usize,
    /// A socket running no operation for this long is closed (1000).
    pub idle_timeout_ms: u64,
    /// How often the server pings each socket.
    pub keepalive_interval_ms: u64,
    /// How long a ping may go unanswered before the socket is closed (1001).
    pub keepalive_timeout_ms: u64,
    /// How often a logged-in socket checks its token again (deny-list, signature), as a
    /// backstop for account events lost on the bus.
    pub identity_check_ms: u64,
    /// Messages queued for one socket before its subscriptions wait; a subscription that
    /// waits too long falls behind its feed and is resynced (a seat map with a snapshot).
    pub queue_messages: usize,
    /// Encode each subscription event once per shape (document, variables, viewer's scope)
    /// and share the bytes among its subscribers. Off, every subscription is executed on its
    /// own, as a plain GraphQL server would.
    pub shared_encoding: bool,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_subscriptions: 20,
            sockets_per_ip: 100,
            sockets_per_account: 10,
            idle_timeout_ms: 5 * 60 * 1000,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            identity_check_ms: 30_000,
            queue_messages: 32,
            shared_encoding: true,
        }
    }
}
