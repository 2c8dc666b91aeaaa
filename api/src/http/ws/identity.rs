//! Who a logged-in socket acts for, and whether it still may.
//!
//! The token given at `connection_init` is kept and checked again (signature, expiry,
//! deny-list, as for every HTTP request) whenever the account is announced on the bus and
//! every `websocket.identity_check_ms` besides, when the account's stored role is read too;
//! the socket also ends at the token's `exp`.
//! A socket whose token is refused, or whose account now has another role, is closed with
//! 4403. When the deny-list cannot be read, a re-check keeps the socket (it is not known to
//! be ended) and the next check asks again; a new socket is refused, as HTTP is. There is no refresh in place: a client reconnects with its new access token.

use std::time::Duration;

use entity::{Role, user};
use sea_orm::EntityTrait;
use tokio::time::Instant;

use crate::auth::flows::{self, TokenCheck};
use crate::auth::viewer::{Principal, Viewer};
use crate::live::sockets::{AccountChange, AccountSlot};
use crate::state::AppState;

pub(super) struct Identity {
    token: String,
    pub principal: Principal,
    /// When the token expires.
    pub expires_at: Instant,
    slot: AccountSlot,
}

/// Why a logged-in socket could not start or must end: a close code and reason.
pub(super) type Refusal = (u16, String);

fn forbidden(why: &str) -> Refusal {
    (4403, format!("Forbidden: {why}"))
}

impl Identity {
    /// Authenticates `token` and takes a place among the account's sockets. The place is
    /// taken before the deny-list is read, so that no announcement can fall in between.
    pub async fn establish(app: &AppState, token: &str) -> Result<Self, Refusal> {
        let claims = app.jwt.verify(token).map_err(|_| forbidden("the token was refused"))?;
        let user_id = claims.sub.parse().map_err(|_| forbidden("the token was refused"))?;
        let slot = app
            .sockets
            .admit_account(user_id)
            .ok_or_else(|| (4429, "Too many connections for this account".to_string()))?;
        let Viewer::User(principal) = flows::authenticate(&app.auth, Some(token)).await else {
            return Err(forbidden("the token was refused"));
        };
        let left_ms = (claims.exp * 1000 - chrono::Utc::now().timestamp_millis()).max(0);
        Ok(Self {
            token: token.to_string(),
            principal,
            expires_at: Instant::now() + Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)),
            slot,
        })
    }

    /// Checks the token again, after `change` when the account was announced. The periodic
    /// check (no `change`) also reads the account's role from the database (one read by
    /// primary key per socket per `identity_check_ms`), so that a role change whose
    /// announcement was lost still ends the socket.
    pub async fn check(&self, app: &AppState, change: Option<&AccountChange>) -> Result<(), Refusal> {
        let role = match change {
            Some(change) => change.role,
            None => self.current_role(app).await?,
        };
        if role.is_some_and(|role| role != self.principal.role) {
            return Err(forbidden("the account's role changed"));
        }
        match flows::check_token(&app.auth, &self.token).await {
            TokenCheck::Valid(now) if now == self.principal => Ok(()),
            TokenCheck::Unknown => {
                // Not known to be ended: closing every socket on a blip of the deny-list
                // would make all clients reconnect at once. The next check asks again.
                tracing::warn!(
                    user_id = self.principal.user_id.0,
                    "a socket's token could not be re-checked; it stays open until the next check"
                );
                Ok(())
            }
            _ => Err(forbidden("the session has ended")),
        }
    }

    /// The account's role as stored; `None` when it could not be read (the next check asks
    /// again). An account that no longer exists ends the socket.
    async fn current_role(&self, app: &AppState) -> Result<Option<Role>, Refusal> {
        match user::Entity::find_by_id(self.principal.user_id).one(&app.db).await {
            Ok(Some(account)) => Ok(Some(account.role)),
            Ok(None) => Err(forbidden("the account no longer exists")),
            Err(err) => {
                tracing::warn!(
                    user_id = self.principal.user_id.0,
                    error = ?err,
                    "a socket's account could not be read; it stays open until the next check"
                );
                Ok(None)
            }
        }
    }

    /// The account's next announced change.
    pub async fn changed(&mut self) -> AccountChange {
        if self.slot.changes.changed().await.is_err() {
            // The registry dropped the account's channel: only the timer checks remain.
            std::future::pending::<()>().await;
        }
        self.slot.changes.borrow_and_update().clone()
    }
}
