//! Keep-alive HTTP/1 connections for the guest's outgoing requests, shared by every call
//! of one [`crate::Step`].
//!
//! `wasmtime-wasi-http`'s default client opens a new TCP connection (and, for `https`,
//! builds a new TLS configuration from the whole root store) for every request. Each
//! call of a step gets a fresh instance, but the host behind it is long-lived, so the
//! connections can outlive the instance the way a native client's pool does; measured
//! in `BENCHMARKS.md`.
//!
//! Reuse never risks a second delivery: a request is moved to a new connection only when
//! hyper hands it back unsent (the pooled connection had closed before a byte was
//! written). A request that failed after being written is reported to the guest, whose
//! retry keeps the same `local_id`, as for any connection error.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Idle connections older than this are closed rather than reused: servers and load
/// balancers commonly drop idle connections after 60 s, and a connection dropped while a
/// request is being written costs the guest an attempt.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most idle connections kept per authority; more concurrent calls than this still
/// work, their extra connections are closed when done.
const MAX_IDLE_PER_AUTHORITY: usize = 64;
/// What the default client waits when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a pooled connection may take to accept the next request. A connection goes
/// back to the pool as soon as its answer has been read, and hyper marks it ready a
/// moment later, on its own task; one that is not ready by then is dropped for a new one.
const READY_WAIT: Duration = Duration::from_secs(1);

type Response = http::Response<WasiBody>;
type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

/// The idle connections of one step, by `scheme://host:port`.
#[derive(Clone, Default)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    opened: std::sync::atomic::AtomicU64,
}

struct Idle {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

impl Pool {
    /// How many connections this pool has opened so far.
    pub(crate) fn connections_opened(&self) -> u64 {
        self.inner.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `request`, on an idle connection to its authority when there is one.
    pub(crate) async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> wasmtime_wasi_http::Result<(Response, IoFuture)> {
        let uri = request.uri();
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let address = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        let key = format!("{}://{address}", if tls { "https" } else { "http" });
        let timeouts = Timeouts::from(options);

        // The request line carries only the path (wasmtime-wasi-http has already put
        // the authority in `Host`); an absolute URI is for proxies.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(path)
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;

        loop {
            let (mut sender, reused) = match self.take(&key).await {
                Some(sender) => (sender, true),
                None => (self.connect(&address, tls, timeouts.connect).await?, false),
            };
            let sent = tokio::time::timeout(timeouts.first_byte, sender.try_send_request(request))
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?;
            match sent {
                Ok(response) => {
                    let (parts, incoming) = response.into_parts();
                    let body = PooledBody {
                        incoming,
                        between_bytes: interval(timeouts.between_bytes),
                        return_to: Some((self.clone(), key, sender)),
                    };
                    let response = http::Response::from_parts(parts, body.boxed_unsync());
                    return Ok((response, Box::new(async { Ok(()) })));
                }
                Err(mut failed) => match failed.take_message() {
                    // Never written: safe to move to another connection. Only a pooled
                    // connection can be stale, and each turn of the loop uses one up, so
                    // the loop ends on a fresh connection at the latest.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(Error::from(failed.into_error())),
                },
            }
        }
    }

    async fn take(&self, key: &str) -> Option<SendRequest<WasiBody>> {
        loop {
            // Newest first: the most recently used connection is the least likely to
            // have been closed by the server. The lock is not held across the wait.
            let entry = {
                let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.get_mut(key)?.pop()?
            };
            if entry.since.elapsed() >= IDLE_TIMEOUT || entry.sender.is_closed() {
                continue;
            }
            let mut sender = entry.sender;
            // Waiting here rather than before the connection enters the pool: otherwise
            // a call that starts right after the previous one ended finds the pool empty
            // and opens a second connection.
            if let Ok(Ok(())) = tokio::time::timeout(READY_WAIT, sender.ready()).await {
                return Some(sender);
            }
        }
    }

    fn put(&self, key: String, sender: SendRequest<WasiBody>) {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|entry| entry.since.elapsed() < IDLE_TIMEOUT && !entry.sender.is_closed());
        if list.len() < MAX_IDLE_PER_AUTHORITY {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(
        &self,
        address: &str,
        tls: bool,
        timeout: Duration,
    ) -> wasmtime_wasi_http::Result<SendRequest<WasiBody>> {
        let connecting = async {
            let tcp = TcpStream::connect(address).await.map_err(Error::Connect)?;
            let _ = tcp.set_nodelay(true);
            if tls {
                let server = server_name(address)?;
                let connector = tokio_rustls::TlsConnector::from(self.tls_config());
                let stream = connector.connect(server, tcp).await.map_err(Error::Tls)?;
                handshake(stream).await
            } else {
                handshake(tcp).await
            }
        };
        let sender = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        self.inner
            .opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(sender)
    }

    fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.inner
            .tls
            .get_or_init(|| {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.into(),
                };
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("ring supports rustls's default protocol versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Arc::new(config)
            })
            .clone()
    }
}

/// Starts HTTP/1 on `stream` and drives the connection on its own task, so that it
/// outlives the call that opened it.
async fn handshake<S>(stream: S) -> wasmtime_wasi_http::Result<SendRequest<WasiBody>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    tokio::spawn(async move {
        // Its errors reach the request or the body that was in flight.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The TLS name of `host:port`, an IP address included.
fn server_name(
    address: &str,
) -> wasmtime_wasi_http::Result<rustls::pki_types::ServerName<'static>> {
    use rustls::pki_types::ServerName;
    if let Ok(socket) = address.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(socket.ip()));
    }
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    ServerName::try_from(host.to_owned()).map_err(Error::InvalidDnsNameError)
}

#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl From<Option<RequestOptions>> for Timeouts {
    fn from(options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    // tokio refuses a zero period; a nanosecond is as good as none.
    let mut timer = tokio::time::interval(period.max(Duration::from_nanos(1)));
    timer.reset();
    timer
}

/// A response body that enforces the between-bytes timeout and gives its connection
/// back to the pool once the whole answer has been read. A body dropped before its end
/// takes the connection with it: the unread rest would poison the next request.
struct PooledBody {
    incoming: Incoming,
    between_bytes: tokio::time::Interval,
    return_to: Option<(Pool, String, SendRequest<WasiBody>)>,
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some((pool, key, sender)) = this.return_to.take() {
                    pool.put(key, sender);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                this.return_to = None;
                let error = if error.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(error)
                };
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.between_bytes.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.between_bytes.poll_tick(cx));
                this.return_to = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
