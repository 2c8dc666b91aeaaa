//! What the payment provider is told of an order: its id and its name. Made when seats are
//! held (by a buyer or offered from the waitlist), long before anything is paid.

/// A fresh order ID: URL-safe and 6 to 64 characters, as Toss requires.
pub fn new_order_id() -> String {
    format!("curtain-{}", uuid::Uuid::new_v4().simple())
}

/// What the buyer sees in the payment window: the performance `title` and the number of
/// seats, the title cut to fit Toss's 100 characters.
pub fn order_name_of(title: &str, seats: usize) -> String {
    let suffix = format!(" {seats}매");
    let room = 100 - suffix.chars().count();
    title.chars().take(room).collect::<String>() + &suffix
}
