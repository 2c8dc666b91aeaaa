//! What each notification says, in Korean (the default) and English.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Kinds of notification, with the stable names clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    HoldPlaced,
    PaymentConfirmed,
    ReservationCancelled,
    HoldExpired,
    ShowReminder,
    ReviewPrompt,
    DormancyWarning,
    /// A payment approved after its reservation had lapsed was refunded.
    PaymentRefunded,
    /// Someone transferred a ticket to this account (`buyer_name` is who sent it).
    TicketReceived,
    /// Seats came back and the waitlist held them for the buyer.
    WaitlistOffered,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HoldPlaced => "HOLD_PLACED",
            Self::PaymentConfirmed => "PAYMENT_CONFIRMED",
            Self::ReservationCancelled => "RESERVATION_CANCELLED",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::ShowReminder => "SHOW_REMINDER",
            Self::ReviewPrompt => "REVIEW_PROMPT",
            Self::DormancyWarning => "DORMANCY_WARNING",
            Self::PaymentRefunded => "PAYMENT_REFUNDED",
            Self::TicketReceived => "TICKET_RECEIVED",
            Self::WaitlistOffered => "WAITLIST_OFFERED",
        }
    }

    /// Events the box office wants to hear about in Slack.
    pub fn for_box_office(self) -> bool {
        matches!(self, Self::PaymentConfirmed | Self::ReservationCancelled)
    }
}

/// The facts a message is made of.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub buyer_name: String,
    pub performance_title: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub seat_count: i32,
    pub amount: i64,
    pub reservation_id: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A message rendered in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
}

/// Korean time, as the box office and buyers read it.
fn local(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| {
        at.with_timezone(&crate::domain::box_office_offset())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_default()
}

fn won(amount: i64) -> String {
    let digits = amount.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if amount < 0 { format!("-{grouped}") } else { grouped }
}

/// The buyer-facing message, in `language` (`en`, else Korean).
pub fn render(kind: Kind, facts: &Facts, language: &str) -> Message {
    let (title, when, n, amount) = (
        &facts.performance_title,
        local(facts.starts_at),
        facts.seat_count,
        won(facts.amount),
    );
    let (title_text, body) = if language == "en" {
        match kind {
            Kind::HoldPlaced => (
                format!("Seats held: {title}"),
                format!(
                    "{n} seat(s) for {when} are held for you until {} (KST). Total {amount} KRW.",
                    local(facts.expires_at)
                ),
            ),
            Kind::PaymentConfirmed => (
                format!("Booking confirmed: {title}"),
                format!("Your {n} seat(s) for {when} are booked. Paid {amount} KRW. Enjoy the show!"),
            ),
            Kind::ReservationCancelled => (
                format!("Booking cancelled: {title}"),
                format!("Your booking of {n} seat(s) for {when} was cancelled; {amount} KRW will be refunded."),
            ),
            Kind::HoldExpired => (
                format!("Hold expired: {title}"),
                format!("The {n} seat(s) held for {when} were released because payment did not arrive in time."),
            ),
            Kind::ShowReminder => (
                format!("Tomorrow: {title}"),
                format!("Your show starts at {when} (KST). Please arrive 30 minutes early."),
            ),
            Kind::ReviewPrompt => (
                format!("How was {title}?"),
                "Tell other buyers what you thought: write a review.".to_string(),
            ),
            Kind::DormancyWarning => (
                "Your account will go dormant soon".to_string(),
                "You have not logged in for almost a year. Log in within 30 days to keep your account active."
                    .to_string(),
            ),
            Kind::PaymentRefunded => (
                format!("Payment refunded: {title}"),
                format!(
                    "Your payment of {amount} KRW for {when} was approved after the seats' hold had ended, so it was refunded in full. Please book again."
                ),
            ),
            Kind::TicketReceived => (
                format!("A ticket for you: {title}"),
                format!(
                    "{} sent you a ticket for {when} (KST). It is in My tickets; show its QR code at the door.",
                    facts.buyer_name
                ),
            ),
            Kind::WaitlistOffered => (
                format!("Seats held for you from the waitlist: {title}"),
                format!(
                    "{n} seat(s) for {when} came back and are held for you until {} (KST). Pay {amount} KRW before then, or they go to the next in line.",
                    local(facts.expires_at)
                ),
            ),
        }
    } else {
        match kind {
            Kind::HoldPlaced => (
                format!("좌석 선점 완료: {title}"),
                format!(
                    "{when} 공연 {n}석을 {}까지 잡아 두었습니다. 결제 금액 {amount}원.",
                    local(facts.expires_at)
                ),
            ),
            Kind::PaymentConfirmed => (
                format!("예매 확정: {title}"),
                format!("{when} 공연 {n}석 예매가 확정되었습니다. 결제 금액 {amount}원. 즐거운 관람 되세요!"),
            ),
            Kind::ReservationCancelled => (
                format!("예매 취소: {title}"),
                format!("{when} 공연 {n}석 예매가 취소되었습니다. {amount}원이 환불됩니다."),
            ),
            Kind::HoldExpired => (
                format!("선점 만료: {title}"),
                format!("결제 시간이 지나 {when} 공연 {n}석의 선점이 해제되었습니다."),
            ),
            Kind::ShowReminder => (
                format!("내일 공연: {title}"),
                format!("공연이 {when}에 시작합니다. 30분 전까지 도착해 주세요."),
            ),
            Kind::ReviewPrompt => (
                format!("{title} 관람은 어떠셨나요?"),
                "관람 후기를 남겨 다른 관객에게 알려 주세요.".to_string(),
            ),
            Kind::DormancyWarning => (
                "휴면 계정 전환 예정 안내".to_string(),
                "1년 가까이 로그인하지 않으셨습니다. 30일 안에 로그인하지 않으면 계정이 휴면 상태로 전환됩니다."
                    .to_string(),
            ),
            Kind::PaymentRefunded => (
                format!("결제 환불: {title}"),
                format!(
                    "{when} 공연의 좌석 선점이 끝난 뒤 결제가 승인되어 {amount}원 전액을 환불했습니다. 다시 예매해 주세요."
                ),
            ),
            Kind::TicketReceived => (
                format!("티켓 도착: {title}"),
                format!(
                    "{}님이 {when} 공연 티켓을 보냈습니다. 내 티켓에서 확인하고, 입장할 때 QR 코드를 보여 주세요.",
                    facts.buyer_name
                ),
            ),
            Kind::WaitlistOffered => (
                format!("대기 좌석 확보: {title}"),
                format!(
                    "{when} 공연 {n}석이 나와 {}까지 잡아 두었습니다. 그때까지 {amount}원을 결제하지 않으면 다음 대기자에게 넘어갑니다.",
                    local(facts.expires_at)
                ),
            ),
        }
    };
    Message {
        title: title_text,
        body,
    }
}

/// The box office's Slack line for an event.
pub fn box_office_line(kind: Kind, facts: &Facts) -> String {
    let what = match kind {
        Kind::PaymentConfirmed => "예매 확정 (confirmed)",
        Kind::ReservationCancelled => "예매 취소 (cancelled)",
        other => other.as_str(),
    };
    format!(
        "{what}: {} · {} · {}석 · {}원 · reservation {}",
        facts.performance_title,
        local(facts.starts_at),
        facts.seat_count,
        won(facts.amount),
        facts.reservation_id.map(|id| id.to_string()).unwrap_or_default()
    )
}

/// A minimal HTML version of a message, escaped.
pub fn html(message: &Message) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<!doctype html><html><body><h1>{}</h1><p>{}</p><p>Curtain</p></body></html>",
        escape(&message.title),
        escape(&message.body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_in_thousands() {
        assert_eq!(won(0), "0");
        assert_eq!(won(1000), "1,000");
        assert_eq!(won(150000), "150,000");
        assert_eq!(won(1234567), "1,234,567");
    }

    #[test]
    fn messages_come_in_korean_by_default_and_in_english_on_request() {
        let facts = Facts {
            performance_title: "레미제라블".into(),
            seat_count: 2,
            amount: 300_000,
            ..Facts::default()
        };
        assert!(
            render(Kind::PaymentConfirmed, &facts, "ko")
                .title
                .starts_with("예매 확정")
        );
        assert!(
            render(Kind::PaymentConfirmed, &facts, "en")
                .title
                .starts_with("Booking confirmed")
        );
        assert!(
            render(Kind::PaymentConfirmed, &facts, "en")
                .body
                .contains("300,000 KRW")
        );
    }

    #[test]
    fn html_is_escaped() {
        let message = Message {
            title: "<script>".into(),
            body: "a & b".into(),
        };
        let page = html(&message);
        assert!(page.contains("&lt;script&gt;") && page.contains("a &amp; b"));
    }
}
