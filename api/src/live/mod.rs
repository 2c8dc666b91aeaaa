//! Live views fed by the event bus: the per-instance hubs that subscriptions read from.

pub mod notifications;
pub mod seat_maps;
pub mod sockets;
pub mod waiting_rooms;
