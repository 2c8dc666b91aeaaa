//! Which subscriptions can share their encoding, and with whom.
//!
//! A request is shared when its operation is a subscription with exactly one root field, one
//! of the live feeds ([`Root`]), written plainly: no directive on the operation or the field,
//! no fragment around it. Its arguments are read as execution would read them (literals,
//! variables, variables' defaults). Anything else (a fragment at the root, `@include`, an
//! argument of an unexpected form, several operations without a name) is *unusual*: it runs
//! per subscriber, as every subscription did before, and gets exactly the same answer.
//!
//! Two subscribers share a shape when the same encoding is right for both: the same document
//! (byte for byte: error locations depend on its layout), operation name and variables, and
//! the same [`Scope`] of viewer.

use async_graphql::parser::types::{DocumentOperations, OperationDefinition, OperationType, Selection};
use async_graphql::{ID, Name, Request, Value as ConstValue};
use entity::Role;

use crate::auth::viewer::Viewer;

/// A live feed whose events are encoded once per shape, and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Root {
    SeatMap {
        session_id: ID,
        after_version: Option<i64>,
        coalesce: bool,
    },
    Notifications,
    WaitingRoom {
        ticket_id: ID,
    },
}

/// Whose encoding a subscriber may share.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Anyone's with the same role (`None`: anonymous). A seat map says the same to everyone;
    /// the role is kept apart because a guarded field would answer differently.
    Role(Option<Role>),
    /// The account's own: what it is told is about it alone.
    Account(i64),
}

/// What makes two subscribers' encodings the same.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) struct ShapeKey {
    pub query: String,
    pub operation_name: Option<String>,
    /// The variables as JSON, names in order.
    pub variables: String,
    pub scope: Scope,
}

/// The feed and shape of `request` for `viewer`, or `None` when it is unusual.
pub(crate) fn classify(request: &Request, viewer: &Viewer) -> Option<(Root, ShapeKey)> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(operation), None) => &operation.node,
        (DocumentOperations::Multiple(operations), Some(name)) => &operations.get(name)?.node,
        _ => return None,
    };
    if operation.ty != OperationType::Subscription || !operation.directives.is_empty() {
        return None;
    }
    let [selection] = operation.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &selection.node else {
        return None;
    };
    let field = &field.node;
    if !field.directives.is_empty() {
        return None;
    }
    let argument = |name: &str| -> Option<ConstValue> {
        match field.get_argument(name) {
            Some(value) => value
                .node
                .clone()
                .into_const_with(|variable| variable_value(request, operation, &variable))
                .ok(),
            None => Some(ConstValue::Null),
        }
    };
    let (root, scope) = match field.name.node.as_str() {
        "seatMapUpdates" => {
            let ConstValue::String(session_id) = argument("sessionId")? else {
                return None;
            };
            let after_version = match argument("afterVersion")? {
                ConstValue::Null => None,
                ConstValue::Number(number) => Some(number.as_i64()?),
                _ => return None,
            };
            let coalesce = match argument("coalesce")? {
                ConstValue::Null => false,
                ConstValue::Boolean(coalesce) => coalesce,
                _ => return None,
            };
            let root = Root::SeatMap {
                session_id: ID(session_id),
                after_version,
                coalesce,
            };
            let scope = match viewer {
                Viewer::Anonymous => Scope::Role(None),
                Viewer::User(principal) => Scope::Role(Some(principal.role)),
                Viewer::Rejected(_) => return None,
            };
            (root, scope)
        }
        "notificationReceived" => (Root::Notifications, Scope::Account(viewer.principal()?.user_id.0)),
        "waitingRoomUpdates" => {
            let ConstValue::String(ticket_id) = argument("ticketId")? else {
                return None;
            };
            let root = Root::WaitingRoom {
                ticket_id: ID(ticket_id),
            };
            (root, Scope::Account(viewer.principal()?.user_id.0))
        }
        _ => return None,
    };
    let key = ShapeKey {
        query: request.query.clone(),
        operation_name: request.operation_name.clone(),
        variables: serde_json::to_string(&request.variables).ok()?,
        scope,
    };
    Some((root, key))
}

/// A variable's value as execution reads it: given, else its default, else null.
fn variable_value(request: &Request, operation: &OperationDefinition, name: &Name) -> Result<ConstValue, ()> {
    if let Some(value) = request.variables.get(name) {
        return Ok(value.clone());
    }
    let definition = operation
        .variable_definitions
        .iter()
        .find(|definition| definition.node.name.node == *name);
    Ok(definition
        .and_then(|definition| definition.node.default_value.as_ref())
        .map_or(ConstValue::Null, |value| value.node.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::viewer::Principal;

    fn request(query: &str, variables: serde_json::Value) -> Request {
        Request::new(query).variables(async_graphql::Variables::from_json(variables))
    }

    fn user(id: i64) -> Viewer {
        Viewer::User(Principal {
            user_id: crate::ids::UserId(id),
            role: Role::User,
            session_id: "s".into(),
        })
    }

    #[test]
    fn a_plain_seat_map_subscription_is_shared_by_role() {
        let query =
            "subscription($s: ID!, $a: Int = 3) { seatMapUpdates(sessionId: $s, afterVersion: $a) { __typename } }";
        let (root, key) =
            classify(&request(query, serde_json::json!({ "s": "U2Vzc2lvbjox" })), &user(7)).expect("shared");
        assert_eq!(
            root,
            Root::SeatMap {
                session_id: ID("U2Vzc2lvbjox".into()),
                after_version: Some(3),
                coalesce: false,
            }
        );
        assert_eq!(key.scope, Scope::Role(Some(Role::User)));
        let (_, other) =
            classify(&request(query, serde_json::json!({ "s": "U2Vzc2lvbjox" })), &user(8)).expect("shared");
        assert_eq!(key, other, "two buyers share one shape");
        let (_, anonymous) = classify(
            &request(query, serde_json::json!({ "s": "U2Vzc2lvbjox" })),
            &Viewer::Anonymous,
        )
        .expect("shared");
        assert_ne!(key, anonymous, "anonymous callers have a shape of their own");
    }

    #[test]
    fn literals_and_aliases_are_read() {
        let query =
            r#"subscription { live: seatMapUpdates(sessionId: "x", afterVersion: 9, coalesce: true) { version } }"#;
        let (root, _) = classify(&request(query, serde_json::json!({})), &Viewer::Anonymous).expect("shared");
        assert_eq!(
            root,
            Root::SeatMap {
                session_id: ID("x".into()),
                after_version: Some(9),
                coalesce: true,
            }
        );
    }

    #[test]
    fn unusual_selections_run_on_their_own() {
        let unusual = [
            "subscription { ... on SubscriptionRoot { seatMapUpdates(sessionId: \"x\") { version } } }",
            "subscription { seatMapUpdates(sessionId: \"x\") @include(if: true) { version } }",
            "subscription S @deprecated { seatMapUpdates(sessionId: \"x\") { version } }",
            "subscription { seatMapUpdates(sessionId: 1) { version } }",
            "subscription { seatMapUpdates(sessionId: \"x\", afterVersion: \"1\") { version } }",
            "query { seatMapUpdates(sessionId: \"x\") { version } }",
            "subscription { doorCount(sessionId: \"x\") { admitted } }",
            "subscription A { notificationReceived { id } } subscription B { notificationReceived { id } }",
            "subscription {",
        ];
        for query in unusual {
            assert!(
                classify(&request(query, serde_json::json!({})), &user(1)).is_none(),
                "{query}"
            );
        }
    }

    #[test]
    fn an_account_feed_is_shared_only_by_its_account() {
        let query = "subscription { notificationReceived { id } }";
        assert!(classify(&request(query, serde_json::json!({})), &Viewer::Anonymous).is_none());
        let (_, one) = classify(&request(query, serde_json::json!({})), &user(1)).expect("shared");
        let (_, two) = classify(&request(query, serde_json::json!({})), &user(2)).expect("shared");
        assert_ne!(one, two);
        let named = Request::new(
            "subscription A { notificationReceived { id } } subscription B { notificationReceived { title } }",
        )
        .operation_name("B");
        let (_, b) = classify(&named, &user(1)).expect("the named operation");
        assert_eq!(b.operation_name.as_deref(), Some("B"));
    }
}
