//! Connections a fault can drop: a TCP listener whose connections carry a switch that makes them fail, and the
//! extractor that gives a handler the switch of its request's connection.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Serves `router` on `listener` with connections that a `drop` fault can close.
pub(super) async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    axum::serve(DropListener(listener), router.into_make_service_with_connect_info::<Dropper>()).await
}

/// A TCP listener whose connections carry a switch that makes them fail, so that a request can end without answer.
struct DropListener(TcpListener);

impl Listener for DropListener {
    type Io = DroppableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (DroppableStream { stream, dropped: Arc::default() }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

struct DroppableStream {
    stream: TcpStream,
    dropped: Arc<AtomicBool>,
}

impl DroppableStream {
    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl AsyncRead for DroppableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.dropped() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.dropped() {
            // The answer is never written; the server then closes the connection.
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The switch of the connection a request came on.
#[derive(Clone)]
struct Dropper(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, DropListener>> for Dropper {
    fn connect_info(stream: IncomingStream<'_, DropListener>) -> Self {
        Dropper(stream.io().dropped.clone())
    }
}

/// Extracts the connection's switch; absent when the router is served some other way.
pub(super) struct Conn(Option<Dropper>);

impl<S: Send + Sync> FromRequestParts<S> for Conn {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Conn(parts.extensions.get::<ConnectInfo<Dropper>>().map(|c| c.0.clone())))
    }
}

impl Conn {
    /// Closes the connection without an answer; without a switch, breaks off the answer's body instead.
    pub(super) fn drop_connection(&self) -> Response {
        match &self.0 {
            Some(dropper) => {
                dropper.0.store(true, Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            None => {
                let failing =
                    futures::stream::once(async { Err::<Bytes, io::Error>(io::ErrorKind::ConnectionAborted.into()) });
                (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(failing)).into_response()
            }
        }
    }
}
