//! hyper 1 server loop: one task per connection, graceful drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use super::routes::{router, HttpContext};

/// Longest time in-flight requests get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);
/// Most connections served at once. Prometheus needs one per scraper; past this a connection
/// gets a 503 and is closed, so thousands of idle clients cannot grow the daemon's memory.
pub const MAX_CONNECTIONS: usize = 256;
/// What a connection over the limit is told before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 36\r\nRetry-After: 1\r\nConnection: close\r\n\r\nperfd: too many connections (limit)\n";

/// Serves `listener` until `shutdown` turns true, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<HttpContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let app = router(ctx);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tokio::spawn(refuse(stream));
                    continue;
                };
                let app = app.clone();
                let conn = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service_fn(move |req: Request<Incoming>| app.clone().oneshot(req)));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection error");
                    }
                    drop(slot);
                });
            }
            _ = shutdown.changed() => if *shutdown.borrow() { break },
        }
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the drain period; closing them");
    }
}

/// Answers a connection over the limit with a 503 and closes it, all bounded in time. The
/// request head is read first (what arrives within a second, up to 4 KiB): closing a socket with
/// unread input resets it, and a client still writing its request would see a reset or a broken
/// pipe instead of the answer.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answered = tokio::time::timeout(Duration::from_secs(2), async {
        let mut head = Vec::with_capacity(512);
        let mut buf = [0u8; 512];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while head.len() < 4096 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                // Closed, failed or slow: answer with what we have.
                _ => break,
            }
        }
        stream.write_all(TOO_MANY).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(answered, Ok(Ok(()))) {
        tracing::debug!("could not tell a refused connection why");
    }
}
