//! Listeners that stay up when clients misbehave.
//!
//! The HTTP/1 listeners (OTLP/HTTP, the query API) serve their axum routers through hyper
//! directly rather than `axum::serve`, for what it does not set: a cap on open connections (past
//! it a new connection is closed at once and counted), and a deadline for a request's headers,
//! against slowloris clients that open connections and trickle bytes. The gRPC listener gets the
//! same connection cap ([`limited_incoming`]); its HTTP/2 limits (concurrent streams, header list
//! size, reset streams, keep-alive pings) are set where the server is built.
//!
//! With `tls.cert_file` and `tls.key_file` every listener speaks TLS (rustls): these two through
//! [`tls_config`], gRPC through tonic's own rustls acceptor; `tls.client_ca_file` makes both
//! OTLP listeners require client certificates it signed (mTLS).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls;

/// How long a draining listener waits for its open connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(10);

/// Limits of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// Connections open at once; past it, new ones are closed at once.
    pub max_connections: usize,
    /// A request's headers must arrive within this (HTTP/1).
    pub header_read_timeout: Duration,
}

/// A TLS server configuration from PEM files: the certificate chain and its key, and with
/// `client_ca`, client certificates required and checked against it (mTLS). rustls with ring,
/// TLS 1.2 and 1.3, ALPN `alpn`.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .with_context(|| format!("tls.cert_file {}: expected PEM certificates", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "tls.cert_file {} holds no certificate", cert.display());
    let private_key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls.key_file {}: expected a PEM private key", key.display()))?;
    // ring, as tonic's tls-ring: aws-lc-rs would add post-quantum key exchange (what the
    // deprecation is about) but needs cmake and minutes of C build on every fresh machine.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("tls.client_ca_file {}: expected PEM certificates", path.display()))?;
            for ca in cas {
                roots
                    .add(ca)
                    .with_context(|| format!("tls.client_ca_file {}: not a CA certificate", path.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("tls.client_ca_file {}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private_key).with_context(|| {
        format!("tls.key_file {} is not the key of tls.cert_file {}", key.display(), cert.display())
    })?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown`, then lets open connections finish (up to 10 s).
/// With `tls`, a connection's handshake must finish within the header deadline.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    limits: ListenLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    name: &'static str,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            stream = accept(&listener, name) => stream,
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refused(name);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(|request: http::Request<hyper::body::Incoming>| request.map(axum::body::Body::new));
        let service = hyper_util::service::TowerToHyperService::new(service);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let watcher = graceful.watcher();
        let (acceptor, deadline) = (acceptor.clone(), limits.header_read_timeout);
        tokio::spawn(async move {
            // A client that goes away, sends garbage or fails its handshake: the connection closes.
            match acceptor {
                None => {
                    let _ =
                        watcher.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service)).await;
                }
                Some(acceptor) => match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                        let _ = watcher.watch(connection).await;
                    }
                    _ => metrics::counter!("semtrace_tls_handshakes_failed_total", "listener" => name).increment(1),
                },
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!(listener = name, "connections still open after {DRAIN:?} of draining; closing them");
        }
    }
    Ok(())
}

/// The next connection; a failed accept (out of file descriptors, say) is logged and, after a
/// short wait rather than a spin, tried again.
async fn accept(listener: &TcpListener, name: &'static str) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(err) => {
                tracing::warn!(listener = name, error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn refused(name: &'static str) {
    metrics::counter!("semtrace_connections_refused_total", "listener" => name).increment(1);
}

/// The gRPC listener's connections, at most `max_connections` open at once (each holds a permit
/// until it closes); past it, new ones are closed at once.
pub fn limited_incoming(
    listener: TcpListener,
    max_connections: usize,
    name: &'static str,
) -> impl futures_util::Stream<Item = std::io::Result<LimitedStream>> {
    let connections = Arc::new(Semaphore::new(max_connections.max(1)));
    futures_util::stream::unfold((listener, connections), move |(listener, connections)| async move {
        loop {
            let stream = accept(&listener, name).await;
            match connections.clone().try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    return Some((Ok(LimitedStream { stream, _permit: permit }), (listener, connections)));
                }
                Err(_) => refused(name),
            }
        }
    })
}

/// A TCP connection that gives its permit back when it closes.
pub struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for LimitedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
