//! Security: sockets.
