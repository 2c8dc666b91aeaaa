use async_graphql::{Context, ID, InputObject, Object};

use super::types::{Account, AuthPayload, KakaoAuthorization, Language, Role as RoleInput, User};
use crate::auth::flows::{self, SignUp};
use crate::auth::reactivation;
use crate::domain::accounts;
use crate::error::ApiError;
use crate::graphql::audit::AdminWrite;
use crate::graphql::guard::{Role, RoleGuard, principal, viewer};
use crate::graphql::{GqlResult, app, request_info};
use crate::ids::UserId;
use crate::ids::{NodeKind, expect};

#[derive(InputObject, Debug)]
pub struct SignUpInput {
    pub email: String,
    /// At least 10 characters, not a well-known password.
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
}

/// Fields left out keep their value; an empty phone clears it.
#[derive(InputObject, Debug)]
pub struct UpdateMeInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// The language of the emails this account receives.
    pub language: Option<Language>,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a buyer account and logs it in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> GqlResult<AuthPayload> {
        let ip = request_info(ctx)?.client_ip;
        let input = SignUp {
            email: input.email,
            password: input.password,
            name: input.name,
            phone: input.phone,
        };
        Ok(AuthPayload(flows::sign_up(&app(ctx)?.auth, ip, input).await?))
    }

    /// Logs in with email and password. Five failures within 15 minutes lock the account
    /// for 15 minutes (RATE_LIMITED with `retryAfter`).
    async fn log_in(&self, ctx: &Context<'_>, email: String, password: String) -> GqlResult<AuthPayload> {
        let ip = request_info(ctx)?.client_ip;
        Ok(AuthPayload(
            flows::log_in(&app(ctx)?.auth, ip, &email, &password).await?,
        ))
    }

    /// Trades a refresh token for a new pair; the old one is spent. Presenting a spent
    /// token ends the whole session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> GqlResult<AuthPayload> {
        let ip = request_info(ctx)?.client_ip;
        Ok(AuthPayload(flows::refresh(&app(ctx)?.auth, ip, &refresh_token).await?))
    }

    /// Ends the session of this refresh token; its access tokens stop working at once.
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: String) -> GqlResult<bool> {
        flows::log_out(&app(ctx)?.auth, viewer(ctx), &refresh_token).await?;
        Ok(true)
    }

    /// Starts a Kakao log-in: send the browser to `url`; Kakao redirects back to
    /// `redirectUri` with `code` and `state` for `logInWithKakao`.
    async fn kakao_authorize_url(&self, ctx: &Context<'_>, redirect_uri: String) -> GqlResult<KakaoAuthorization> {
        let authorization = flows::kakao_authorize(&app(ctx)?.auth, &redirect_uri).await?;
        Ok(KakaoAuthorization {
            url: authorization.url,
            state: authorization.state,
        })
    }

    /// Finishes a Kakao log-in, linking or creating the account.
    async fn log_in_with_kakao(&self, ctx: &Context<'_>, code: String, state: String) -> GqlResult<AuthPayload> {
        let ip = request_info(ctx)?.client_ip;
        Ok(AuthPayload(
            flows::kakao_log_in(&app(ctx)?.auth, ip, &code, &state).await?,
        ))
    }

    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> GqlResult<User> {
        let user_id = principal(ctx)?.user_id;
        Ok(User(
            accounts::update_profile(
                &app(ctx)?.db,
                user_id,
                accounts::ProfileChanges {
                    name: input.name,
                    phone: input.phone,
                    language: input.language.map(Language::code),
                },
            )
            .await?,
        ))
    }

    /// Emails a one-time code to the address of a dormant account (one unused for a year).
    /// Answers true whether or not the address belongs to one.
    async fn request_reactivation(&self, ctx: &Context<'_>, email: String) -> GqlResult<bool> {
        let ip = request_info(ctx)?.client_ip;
        reactivation::request_code(&app(ctx)?.auth, ip, &email).await?;
        Ok(true)
    }

    /// Reactivates a dormant account with the emailed code and logs it in.
    async fn reactivate_account(&self, ctx: &Context<'_>, email: String, code: String) -> GqlResult<AuthPayload> {
        let ip = request_info(ctx)?.client_ip;
        Ok(AuthPayload(
            reactivation::reactivate(&app(ctx)?.auth, ip, &email, &code).await?,
        ))
    }

    /// Changes the password and ends every other session.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> GqlResult<bool> {
        flows::change_password(&app(ctx)?.auth, principal(ctx)?, &current_password, &new_password).await?;
        Ok(true)
    }

    /// Gives an account a role. Taking a staff role away (ADMIN, or DOOR for a buyer's role)
    /// ends the account's sessions at once.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn grant_role(&self, ctx: &Context<'_>, user_id: ID, role: RoleInput) -> GqlResult<Account> {
        let id = expect(NodeKind::User, &user_id, "userId")?;
        let role: Role = role.into();
        let me = principal(ctx)?;
        if me.user_id == id && role != Role::Admin {
            return Err(ApiError::Conflict("you cannot take the ADMIN role from yourself".into()).into());
        }
        let app = app(ctx)?;
        let write = AdminWrite::begin(ctx).await?;
        let before = accounts::find_user(write.txn(), UserId(id)).await?;
        let user = accounts::set_role(write.txn(), UserId(id), role).await?;
        write.commit(ctx, "grantRole", NodeKind::User, Some(id)).await?;
        if crate::graphql::guard::rank(role) < crate::graphql::guard::rank(before.role) {
            flows::end_all_sessions(&app.auth, UserId(id)).await?;
        }
        if before.role != role {
            // Sockets acting with the old role end, on every instance.
            let change = crate::live::sockets::AccountChange { role: Some(role) };
            crate::live::sockets::announce(app.bus.as_ref(), id, change).await;
        }
        Ok(Account(user))
    }
}
