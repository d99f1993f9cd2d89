//! Listeners that stay up when clients misbehave.
//!
//! The HTTP/1 listeners (OTLP/HTTP, the query API) serve their axum routers through hyper
//! directly rather than `axum::serve`, for what it does not set: a cap on open connections (past
//! it a new connection is closed at once and counted), and a deadline for a request's headers,
//! against slowloris clients that open connections and trickle bytes. The gRPC listener gets the
//! same connection cap ([`limited_incoming`]); its HTTP/2 limits (concurrent streams, header list
//! size, reset streams, keep-alive pings) are set where the server is built.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Serves `router` on `listener` until `shutdown`, then lets open connections finish (up to 10 s).
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    limits: ListenLimits,
    name: &'static str,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: wait a little rather than spin.
                Err(err) => {
                    tracing::warn!(listener = name, error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
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
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let connection = builder.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or sent garbage: nothing to do but close.
            let _ = connection.await;
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
            match listener.accept().await {
                Ok((stream, _)) => match connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let _ = stream.set_nodelay(true);
                        return Some((Ok(LimitedStream { stream, _permit: permit }), (listener, connections)));
                    }
                    Err(_) => refused(name),
                },
                Err(err) => {
                    tracing::warn!(listener = name, error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
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
