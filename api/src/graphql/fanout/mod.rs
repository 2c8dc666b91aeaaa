//! Subscriptions encoded once per shape, not once per subscriber.
//!
//! Thousands of buyers watch one seat map. Each subscriber still follows the feed on its
//! own (its version, its gaps, its resyncs: see `booking::live`), but turning an event into
//! the JSON a client reads (resolving the selection set, serialising) happens once per
//! *shape* (see [`shape`]): every subscriber with the same document, variables and scope
//! of viewer gets the same [`Encoded`] bytes, and the socket writer only puts the operation
//! id in front.
//!
//! The encoding is a real execution of the shape's document by the schema, with the event
//! given as the whole source stream ([`Preset`]): fields, aliases, `__typename`, guards and
//! errors come out exactly as from a subscription executed per subscriber, byte for byte.
//! A request whose shape is unusual, that the schema refuses (checked once per shape, with
//! no event preset, before anyone shares it), whose feed refuses it (a session that does
//! not exist, a ticket that is not the caller's), or any request when
//! `websocket.shared_encoding` is off, runs per subscriber as a whole, and gets the same
//! answer the slow way, at once.
//!
//! The same path serves `seatMapUpdates`, `notificationReceived` and `waitingRoomUpdates`.

mod encodings;
pub(crate) mod shape;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_graphql::{Context, Request, Response};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use self::encodings::Shape;
use self::shape::{Root, ShapeKey};
use crate::auth::viewer::Viewer;
use crate::error::ApiResult;
use crate::graphql::booking::live::SeatMapEvent;
use crate::graphql::notifications::Notification;
use crate::graphql::waiting_room::WaitingRoomTicket;
use crate::graphql::{CurtainSchema, errors};
use crate::state::{AppState, RequestInfo};

/// One event of a shared feed, before encoding.
#[derive(Clone)]
pub(crate) enum SharedEvent {
    SeatMap(SeatMapEvent),
    Notification(Notification),
    WaitingRoom(WaitingRoomTicket),
}

impl SharedEvent {
    /// What tells this event from the others of its feed, for reusing its encoding; `None`
    /// when it is its subscriber's alone.
    fn key(&self) -> Option<EventKey> {
        match self {
            Self::SeatMap(SeatMapEvent::Snapshot(snapshot)) => Some((0, snapshot.version_number(), 0)),
            Self::SeatMap(SeatMapEvent::Delta(delta)) => Some((1, delta.applies_to_version(), delta.version_number())),
            Self::Notification(notification) => Some((2, notification.number(), 0)),
            // A waiting-room ticket is its buyer's alone: other sockets of the same account
            // would rarely see the same view at the same moment.
            Self::WaitingRoom(_) => None,
        }
    }
}

/// What tells an event from the others of its feed: a kind and two numbers.
type EventKey = (u8, i64, i64);

/// Request data that makes a subscription field yield one given event (or none) instead of
/// following its feed: how a shape's encoding executes the shape's own document, and how a
/// new shape is checked before anyone shares it.
pub(crate) struct Preset(Option<SharedEvent>);

/// With a preset execution, the events the field yields: the preset one when it is of the
/// field's feed, else none. `None` when the field should follow its feed.
pub(crate) fn preset<T>(ctx: &Context<'_>, pick: impl FnOnce(&SharedEvent) -> Option<&T>) -> Option<Option<T>>
where
    T: Clone,
{
    let preset = ctx.data_opt::<Preset>()?;
    Some(preset.0.as_ref().and_then(pick).cloned())
}

/// One response of a subscription, as JSON.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The response.
    pub payload: Arc<str>,
    /// With a request that could not run (parse, validation, limits), the list of its
    /// errors: graphql-transport-ws answers it with an `error` message carrying them, and
    /// nothing after it.
    pub refused: Option<Arc<str>>,
    /// An internal error is tagged with its subscriber's request id, so its encoding is
    /// never shared.
    internal: bool,
}

impl Encoded {
    fn new(response: Response, request_id: Option<&str>) -> Self {
        let internal = response.errors.iter().any(errors::is_internal);
        let response = errors::finalize(response, request_id);
        let refused = errors::never_ran(&response).then(|| json(&response.errors));
        Self {
            payload: json(&response),
            refused,
            internal,
        }
    }
}

/// `value` as JSON; serialising a response cannot fail, but if it did the client would
/// still get an error it can read.
fn json(value: &impl serde::Serialize) -> Arc<str> {
    serde_json::to_string(value)
        .unwrap_or_else(|_| {
            r#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.into()
        })
        .into()
}

/// The shapes live on this instance, and what they need to encode.
pub struct Fanout {
    schema: CurtainSchema,
    app: AppState,
    shapes: Mutex<HashMap<ShapeKey, Weak<Shape>>>,
}

impl Fanout {
    pub fn new(schema: CurtainSchema, app: AppState) -> Self {
        Self {
            schema,
            app,
            shapes: Mutex::new(HashMap::new()),
        }
    }

    /// The responses of one subscription (or any operation) for `viewer`, encoded: shared
    /// with every subscriber of its shape when it has a usual one, its own otherwise.
    pub fn open(
        self: &Arc<Self>,
        request: Request,
        viewer: Viewer,
        info: RequestInfo,
    ) -> impl Stream<Item = Encoded> + Send + 'static {
        let fanout = self.clone();
        // Boxed: starting reads the database, and the stream would keep room for that.
        futures::stream::once(Box::pin(fanout.start(request, viewer, info))).flatten()
    }

    async fn start(
        self: Arc<Self>,
        request: Request,
        viewer: Viewer,
        info: RequestInfo,
    ) -> BoxStream<'static, Encoded> {
        if self.app.settings.websocket.shared_encoding
            && let Some((root, key)) = shape::classify(&request, &viewer)
            && let shape = self.shape(key, &request, &viewer, &info)
            && shape.runs().await
            && let Ok(events) = self.events(&root, &viewer).await
        {
            let sent = self.app.metrics.subscription_events.get_or_create(&PATH_SHARED).clone();
            // Shared by every event of this subscriber (it tags internal errors only).
            let request_id: Option<Arc<str>> = info.request_id.as_deref().map(Arc::from);
            return events
                .then(move |event| {
                    let (shape, request_id) = (shape.clone(), request_id.clone());
                    async move { shape.encoding(event, request_id.as_deref()).await }
                })
                .inspect(move |_| {
                    sent.inc();
                })
                .boxed();
        }
        self.own(request, viewer, info)
    }

    /// The events of `root`'s feed for `viewer`; `Err` when the feed refuses (the request
    /// then runs on its own and says why, as the field's resolver does).
    async fn events(&self, root: &Root, viewer: &Viewer) -> ApiResult<BoxStream<'static, SharedEvent>> {
        use crate::graphql::{booking, notifications, waiting_room};
        let user_id = || viewer.principal().map(|principal| principal.user_id);
        Ok(match root {
            Root::SeatMap {
                session_id,
                after_version,
                coalesce,
            } => booking::live::events(&self.app, session_id, *after_version, *coalesce)
                .await?
                .map(SharedEvent::SeatMap)
                .boxed(),
            Root::Notifications => {
                notifications::events(&self.app, user_id().ok_or(crate::error::ApiError::Forbidden)?)
                    .map(SharedEvent::Notification)
                    .boxed()
            }
            Root::WaitingRoom { ticket_id } => {
                let user_id = user_id().ok_or(crate::error::ApiError::Forbidden)?;
                waiting_room::events(&self.app, ticket_id, user_id)
                    .await?
                    .map(SharedEvent::WaitingRoom)
                    .boxed()
            }
        })
    }

    /// The live shape for `key`, made from this request when there is none.
    fn shape(&self, key: ShapeKey, request: &Request, viewer: &Viewer, info: &RequestInfo) -> Arc<Shape> {
        let mut shapes = self.shapes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shape) = shapes.get(&key).and_then(Weak::upgrade) {
            return shape;
        }
        // Forget the shapes nobody subscribes to any more before adding one.
        shapes.retain(|_, shape| shape.strong_count() > 0);
        let shape = Arc::new(Shape::new(
            self.schema.clone(),
            self.app.clone(),
            request,
            viewer.clone(),
            info.clone(),
        ));
        shapes.insert(key, Arc::downgrade(&shape));
        shape
    }

    /// Executes `request` for this subscriber alone, encoding each response.
    fn own(&self, request: Request, viewer: Viewer, info: RequestInfo) -> BoxStream<'static, Encoded> {
        let request_id = info.request_id.clone();
        let metrics = &self.app.metrics;
        let sent = metrics.subscription_events.get_or_create(&PATH_OWN).clone();
        let encoded = metrics.subscription_encodings.get_or_create(&PATH_OWN).clone();
        crate::graphql::execute_stream(&self.schema, request.data(viewer).data(info), &self.app)
            .map(move |response| {
                sent.inc();
                encoded.inc();
                Encoded::new(response, request_id.as_deref())
            })
            .boxed()
    }
}

const PATH_SHARED: crate::metrics::PathLabels = crate::metrics::PathLabels { path: "shared" };
const PATH_OWN: crate::metrics::PathLabels = crate::metrics::PathLabels { path: "own" };
