//! A shape's encodings: the newest events it has encoded, each made once however many
//! subscribers ask for it at the same moment.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Pos, Request, Response, Variables};
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::{Encoded, EventKey, PATH_SHARED, Preset, SharedEvent};
use crate::auth::viewer::Viewer;
use crate::error::ApiError;
use crate::graphql::CurtainSchema;
use crate::state::{AppState, RequestInfo};

/// Encodings kept per shape: enough for every subscriber in step to find the event it is
/// sending, and a burst's worth for those a little behind. Older ones are made again.
const KEPT: usize = 64;

type Cell = Arc<OnceCell<Encoded>>;

/// One shape: the document, variables and viewer its encodings are executed with.
pub(super) struct Shape {
    schema: CurtainSchema,
    app: AppState,
    query: String,
    operation_name: Option<String>,
    variables: Variables,
    /// A viewer of the shape's scope (its first subscriber): any other would be told the same.
    viewer: Viewer,
    info: RequestInfo,
    recent: Mutex<VecDeque<(EventKey, Cell)>>,
    /// Whether the document runs at all (see [`Shape::runs`]).
    runs: OnceCell<bool>,
}

impl Shape {
    pub fn new(schema: CurtainSchema, app: AppState, request: &Request, viewer: Viewer, info: RequestInfo) -> Self {
        Self {
            schema,
            app,
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
            viewer,
            info,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
            runs: OnceCell::new(),
        }
    }

    /// Whether the document runs: executed once with no event, it answers nothing. A
    /// document the schema refuses (validation, limits), or whose field refuses its
    /// arguments, answers with errors at once; it is not shared, so that each subscriber is
    /// refused at once and exactly as on its own, not at the shape's first event.
    pub async fn runs(&self) -> bool {
        *self
            .runs
            .get_or_init(|| async {
                let request = self.request(None);
                let mut responses = std::pin::pin!(crate::graphql::execute_stream(&self.schema, request, &self.app));
                responses.next().await.is_none()
            })
            .await
    }

    /// The shape's request, with `event` preset.
    fn request(&self, event: Option<SharedEvent>) -> Request {
        let mut request = Request::new(self.query.clone()).variables(self.variables.clone());
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.clone());
        }
        request
            .data(self.viewer.clone())
            .data(self.info.clone())
            .data(Preset(event))
    }

    /// `event` encoded for this shape: made by the first subscriber to ask, shared with the
    /// others. An internal error is encoded again for each subscriber, with its request id.
    pub async fn encoding(&self, event: SharedEvent, request_id: Option<&str>) -> Encoded {
        // Executions are boxed: every subscriber's stream keeps room for this future, and
        // most find the encoding made.
        let Some(key) = event.key() else {
            return Box::pin(self.execute(event, request_id)).await;
        };
        let cell = self.cell(key);
        let encoded = cell.get_or_init(|| Box::pin(self.execute(event.clone(), None))).await;
        if encoded.internal {
            return Box::pin(self.execute(event, request_id)).await;
        }
        encoded.clone()
    }

    /// The place of `key`'s encoding, made empty when it is not kept.
    fn cell(&self, key: EventKey) -> Cell {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, cell)) = recent.iter().rev().find(|(kept, _)| *kept == key) {
            return cell.clone();
        }
        if recent.len() == KEPT {
            recent.pop_front();
        }
        let cell = Cell::default();
        recent.push_back((key, cell.clone()));
        cell
    }

    /// Executes the shape's document with `event` as its one event.
    async fn execute(&self, event: SharedEvent, request_id: Option<&str>) -> Encoded {
        let request = self.request(Some(event));
        let mut responses = std::pin::pin!(crate::graphql::execute_stream(&self.schema, request, &self.app));
        let response = responses.next().await.unwrap_or_else(|| {
            let err = ApiError::internal(anyhow::anyhow!("a preset subscription ended without its event"));
            Response::from_errors(vec![async_graphql::Error::from(err).into_server_error(Pos::default())])
        });
        self.app
            .metrics
            .subscription_encodings
            .get_or_create(&PATH_SHARED)
            .inc();
        Encoded::new(response, request_id)
    }
}
