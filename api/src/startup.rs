//! Building and running the application: connect, migrate, seed the demo if asked, bind,
//! serve until a shutdown signal, then drain in-flight requests within a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use secrecy::ExposeSecret;

use crate::auth::jwt::JwtKeys;
use crate::background::Background;
use crate::config::Settings;
use crate::http::serve::{Accepting, serve};
use crate::http::{HttpState, metrics_router, router};
use crate::infra::kakao::KakaoClient;
use crate::infra::{bus, kv};
use crate::live::seat_maps::SeatMapHub;
use crate::metrics::Metrics;
use crate::outbox::relay::RelayWaker;
use crate::state::AppState;
use crate::storage::LocalFiles;
use crate::{db, demo, graphql};

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    /// The private listener `/metrics` is served on, when `metrics.listen`.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    state: AppState,
    /// Persisted queries and trusted documents, by hash: the HTTP layer's, loaded here so
    /// that a bad manifest stops the start.
    persisted: Arc<crate::graphql::persisted::PersistedDocuments>,
    started: Instant,
}

impl Application {
    /// Connects to the database, migrates it, loads the demo catalog into an empty one (when
    /// enabled) and binds the listening socket. Port 0 picks a free port: see [`Self::port`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let started = Instant::now();
        settings.check_request_deadline().map_err(anyhow::Error::msg)?;
        let metrics = Arc::new(Metrics::new(settings.metrics.max_operation_labels));
        let db = db::connect(
            &settings.database_url(),
            settings.database.max_connections,
            Some(metrics.clone()),
        )
        .await?;
        if settings.database.migrate_on_start {
            db::migrate(&db).await?;
        }
        if settings.demo.seed_when_empty && demo::catalog_is_empty(&db).await? {
            let seeded = demo::seed(&db, &settings.auth)
                .await
                .context("loading the demo catalog failed")?;
            seeded.log();
        }

        let listener = TcpListener::bind((settings.server.bind, settings.server.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}; is another server using the port? Pick another with --port",
                    settings.server.bind, settings.server.port
                )
            })?;
        let address = listener.local_addr()?;
        let metrics_listener = if settings.metrics.listen {
            let (bind, port) = (settings.metrics.bind, settings.metrics.port);
            let listener = TcpListener::bind((bind, port)).await.with_context(|| {
                format!(
                    "cannot listen for metrics on {bind}:{port}; pick another port with CURTAIN_METRICS_PORT, or set CURTAIN_METRICS_LISTEN=false"
                )
            })?;
            let address = listener.local_addr()?;
            Some((listener, address))
        } else {
            None
        };
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let files = LocalFiles::new(settings.files_dir(), &public_url);
        std::fs::create_dir_all(&files.dir)
            .with_context(|| format!("cannot create the file storage directory {}", files.dir.display()))?;
        let storage = crate::storage::from_settings(&settings, &files).context("configuring object storage")?;
        let redis_url = settings.redis.url.as_ref().map(|url| url.expose_secret().to_string());
        let kv = kv::connect(redis_url.as_deref(), &settings.redis.key_prefix).await?;
        let bus = bus::connect(redis_url.as_deref(), &settings.redis.key_prefix).await?;
        let jwt = JwtKeys::load(&settings.auth, &settings.data_dir).context("loading the JWT signing keys")?;
        let kakao = KakaoClient::from_settings(&settings.kakao)
            .context("configuring Kakao log-in")?
            .map(Arc::new);
        tracing::info!(
            shared_state = kv.backend(),
            event_bus = bus.backend(),
            kakao_login = kakao.is_some(),
            "authentication ready"
        );
        // In process, cached reads get a store of their own so that a flood of distinct
        // searches cannot evict rate-limit counters; Redis evicts by TTL, one connection serves.
        let cache = match redis_url {
            Some(_) => kv.clone(),
            None => kv::connect(None, &settings.redis.key_prefix).await?,
        };
        // Revocations live as long as an access token (minutes) and only log-outs and
        // revocations make them; in process they get a store that nothing else can fill.
        let deny_list = match redis_url {
            Some(_) => kv.clone(),
            None => Arc::new(kv::MemoryStore::new(kv::DENY_LIST_CAPACITY)) as kv::SharedStore,
        };
        // Viewers' write positions are shared state, like rate limits: in Redis when set.
        let replicas = crate::infra::replicas::Replicas::open(db.clone(), &settings.database, kv.clone())
            .await
            .context("configuring the read replicas")?;
        if !replicas.is_empty() {
            tracing::info!(
                replicas = settings.database.replica_urls.len(),
                max_lag_ms = settings.database.replica_max_lag_ms,
                "read replicas configured"
            );
        }
        let search = crate::search::SearchService::open(db.clone(), &settings, cache.clone(), metrics.clone())
            .await
            .context("opening the search index")?;
        let payments = crate::infra::payments::from_settings(&settings.payments).context("configuring payments")?;
        let payments = crate::infra::payments::Metered::wrap(payments, metrics.clone());
        if payments.name() == "SIMULATED" {
            tracing::warn!("no Toss secret key is configured: payments go to the SIMULATED provider, no money moves");
        }
        tracing::info!(payment_provider = payments.name(), "payments ready");
        let seat_maps = Arc::new(SeatMapHub::new(
            db.clone(),
            settings.events.seat_map_buffer,
            Duration::from_millis(settings.events.seat_map_coalesce_ms),
        ));
        let channels = crate::domain::notify::Channels {
            email: settings.notifications.smtp_host.is_some(),
            slack: settings.notifications.slack_webhook_url.is_some(),
        };
        let sockets = Arc::new(crate::live::sockets::SocketRegistry::new(
            settings.websocket.sockets_per_ip,
            settings.websocket.sockets_per_account,
        ));
        let webhooks = Arc::new(crate::domain::payments::WebhookGate::new(
            settings.payments.webhook_concurrency,
        ));
        let holds = crate::domain::holds::HoldCombiner::start(
            settings.database_url(),
            db.clone(),
            metrics.clone(),
            crate::domain::holds::HoldPolicy::from(&settings.booking),
            settings.booking.hold_batch_max,
        )
        .await?;
        // Registrations go to Redis when it is set, so that every instance knows them; in
        // process each instance keeps its own (the shared stores there are per process anyway).
        let persisted = crate::graphql::persisted::PersistedDocuments::from_settings(
            &settings.graphql,
            redis_url.map(|_| kv.clone()),
            kv.clone(),
        )
        .context("loading the persisted operations")?;
        if persisted.trusted_only() {
            tracing::info!("trusted documents: only the manifest's operations run");
        }
        let persisted = Arc::new(persisted);
        let settings = Arc::new(settings);
        let jwt = Arc::new(jwt);
        let auth = crate::auth::AuthDeps {
            db: db.clone(),
            settings: settings.clone(),
            kv: kv.clone(),
            deny_list: deny_list.clone(),
            jwt: jwt.clone(),
            bus: bus.clone(),
            channels,
            kakao: kakao.clone(),
        };
        let state = AppState {
            auth,
            webhooks,
            holds,
            ticket_keys: Arc::new(crate::domain::tickets::TicketKeys::new()),
            seat_maps,
            waiting_rooms: Arc::new(crate::live::waiting_rooms::WaitingRoomHub::new(db.clone())),
            notifications: Arc::new(crate::live::notifications::NotificationHub::new()),
            sockets,
            channels,
            job_locks: Default::default(),
            replicas: Arc::new(replicas),
            db,
            settings,
            metrics,
            files: Arc::new(files),
            storage,
            kv,
            deny_list,
            jwt,
            kakao,
            search: Arc::new(search),
            cache,
            catalog_loads: Default::default(),
            payments,
            bus,
            relay: RelayWaker::default(),
        };
        Ok(Self {
            listener,
            address,
            metrics_listener,
            state,
            persisted,
            started,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` is served apart from the API, when it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, address)| *address)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then stops accepting connections and gives in-flight
    /// requests the configured grace period to finish.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let server_settings = &self.state.settings.server;
        let grace = Duration::from_secs(server_settings.shutdown_grace_seconds);
        let header_timeout = Duration::from_millis(server_settings.header_read_timeout_ms);
        let schema = graphql::build_schema(self.state.clone());
        let http = HttpState::new(self.state.clone(), schema, self.persisted.clone());
        let app = router(http.clone());
        let url = format!("http://{}", self.address);
        tracing::info!(
            address = %self.address,
            graphiql = %format!("{url}/graphiql"),
            metrics = %self.metrics_address().map_or("off".to_string(), |a| format!("http://{a}/metrics")),
            startup_ms = self.started.elapsed().as_millis() as u64,
            "Curtain is ready: the web app at {url}/, GraphQL at {url}/graphql, GraphiQL at {url}/graphiql"
        );

        let background = Background::start(&self.state)?;
        let (stop, stopped) = watch::channel(false);
        let accepting = Accepting {
            header_timeout,
            send_buffer_bytes: server_settings.socket_send_buffer_bytes,
        };
        let api = serve(self.listener, app, accepting, stopped.clone());
        let metrics_listener = self.metrics_listener;
        let metrics = async move {
            if let Some((listener, _)) = metrics_listener {
                serve(listener, metrics_router(http), accepting, stopped).await;
            }
        };
        let servers = async { tokio::join!(api, metrics) };
        tokio::pin!(servers);
        let signalled = tokio::select! {
            _ = &mut servers => false,
            () = signal => true,
        };
        if signalled {
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _ = stop.send(true);
            tokio::select! {
                _ = &mut servers => {}
                () = tokio::time::sleep(grace) => {
                    tracing::warn!(grace_seconds = grace.as_secs(), "requests still running after the grace period were cut off");
                }
            }
        }
        background.stop();
        self.state.db.close_by_ref().await.ok();
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
