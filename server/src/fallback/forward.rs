//! Node-to-node forwarding of fallback session requests (cluster mode).
//!
//! A session lives on the node that opened it, but its client's later requests (a POST, a
//! poll) reach whichever node the load balancer picks: affinity is lost when a node drains
//! (its `/healthz` answers 503), when a readiness check blips, and for pages of another
//! origin, whose requests carry no affinity cookie. A WebSocket is relayed to the node hosting
//! its room ([`crate::cluster::proxy`]); a fallback request is passed on to the node holding
//! its session, found by the tag in the session's id ([`super::session::node_tag`]), over a
//! pool of plain HTTP/1.1 connections, and its answer streamed back as it comes.
//!
//! A forwarded request carries the fleet's hop headers ([`Cluster::hop_headers`]): the secret,
//! by which the owner knows a node of the fleet speaks for the client, the client's address,
//! which the owner checks the session's address binding against, and the owner's node id
//! (`x-tickwire-node`; a server that is not the owner holds no such session, and answers 404).
//! A verified hop is never forwarded again, so no request can travel in a loop. A session
//! whose node is not listed, or does not answer, gets the 404 of an unknown session, and the
//! client resumes.

use super::session::SessionId;
use super::{Fallback, POLL_HEADER, SEQ_HEADER, SESSION_HEADER};
use crate::cluster::Cluster;
use crate::config::ServerConfig;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Time to open a connection to the owning node: as for a WebSocket relay.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections kept to each node: enough for the requests of a busy moment to find one
/// open, few enough that a node forwarding for a while keeps little open afterwards.
const MAX_IDLE_PER_NODE: usize = 32;
/// Time for the owner's answer to begin, past the longest it waits itself before answering.
const HEAD_MARGIN: Duration = Duration::from_secs(10);

/// Why a request could not be forwarded: the client then gets the 404 of an unknown session,
/// or 502 for a numbered request that may have reached the owner
/// ([`ForwardError::may_have_arrived`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// The fleet's secret is not known yet: the owner would refuse the hop.
    #[error("the fleet's secret is not known yet")]
    NoSecret,
    /// The owner's URL or a header did not make a request.
    #[error("cannot build the request: {0}")]
    Request(#[from] axum::http::Error),
    /// The owner could not be reached, or broke off.
    #[error("{0}")]
    Client(#[from] hyper_util::client::legacy::Error),
    /// The owner did not begin to answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl ForwardError {
    /// Whether the request may have reached the owner, and been taken by it: it was sent
    /// (or being sent) when its answer broke off or did not come in time. A connection that
    /// could not be opened, or a request that was never built, reached nobody.
    pub(crate) fn may_have_arrived(&self) -> bool {
        match self {
            ForwardError::NoSecret | ForwardError::Request(_) => false,
            ForwardError::Client(e) => !e.is_connect(),
            ForwardError::Timeout(_) => true,
        }
    }
}

/// The pool of connections to the fleet's other nodes.
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    client: Client<HttpConnector, Body>,
    head_timeout: Duration,
}

impl Forwarder {
    /// A pool with no connection yet (nothing runs until the first request).
    pub(crate) fn new(config: &ServerConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Idle connections are closed by the owner once its header read timeout (the
            // handshake timeout) passes; one dropped here first is never written to as the
            // owner closes it.
            .pool_idle_timeout(config.handshake_timeout / 2)
            .pool_max_idle_per_host(MAX_IDLE_PER_NODE)
            .build(connector);
        Forwarder { client, head_timeout: head_timeout(config) }
    }
}

/// How long the owner may take to begin its answer: a poll waits up to a heartbeat interval
/// and a second, and a numbered one as long again for the poll before it to finish; a POST
/// for its body (the handshake timeout), for its number's turn and for room in the session
/// (the close timeout each).
fn head_timeout(config: &ServerConfig) -> Duration {
    let poll = 2 * (config.heartbeat_interval + Duration::from_secs(1));
    let post = config.handshake_timeout + 2 * config.close_timeout;
    poll.max(post) + HEAD_MARGIN
}

/// The node to forward a request to: `Some` only in a fleet, for a request that did not come
/// through another node (`hop`), naming a session not held here for `client` whose tag is
/// another live node's.
pub(super) async fn owner(
    fallback: &Fallback,
    headers: &axum::http::HeaderMap,
    client: IpAddr,
    hop: bool,
) -> Option<(Arc<Cluster>, String)> {
    // Never twice: the node that forwarded it found the owner already.
    if hop {
        return None;
    }
    let cluster = fallback.ctx.cluster()?;
    let id = headers.get(SESSION_HEADER)?.to_str().ok().and_then(SessionId::parse)?;
    if fallback.sessions.find(id, client).is_some() || id.tag() == cluster.fallback_tag {
        return None;
    }
    let url = cluster.fallback_node(id.tag()).await?;
    Some((cluster.clone(), url))
}

/// Sends the request (`parts` and `body`) to the node at `url` for `client`, and returns its
/// answer, whose body streams from that node as it comes.
pub(super) async fn forward(
    fallback: &Fallback,
    cluster: &Cluster,
    url: &str,
    parts: &Parts,
    body: Body,
    client: IpAddr,
) -> Result<Response, ForwardError> {
    let owner = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(SessionId::parse)
        .and_then(|id| cluster.fallback_node_id(id.tag()));
    let hop = cluster.hop_headers(client, owner.as_deref()).ok_or(ForwardError::NoSecret)?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::builder().method(parts.method.clone()).uri(format!("{url}{path}"));
    let mut request = request.body(body)?;
    *request.headers_mut() = passed_on(&parts.headers);
    request.headers_mut().extend(hop);
    let timeout = fallback.forwarder.head_timeout;
    let response = tokio::time::timeout(timeout, fallback.forwarder.client.request(request))
        .await
        .map_err(|_| ForwardError::Timeout(timeout))??;
    fallback.ctx.metrics.fallback_forwarded.inc();
    let (mut head, body) = response.into_parts();
    // Hop-by-hop headers describe the owner's connection to this node, not this node's to
    // the client; but a refusal's `Connection: close` is kept, so that the client's
    // connection ends after it as after a refusal of this node's own.
    let close = crate::http::header_has_token(&head.headers, header::CONNECTION, "close");
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        head.headers.remove(name);
    }
    head.headers.remove("keep-alive");
    if close {
        head.headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(Response::from_parts(head, Body::new(body)))
}

/// The headers of a client's request that go on to the owner: only what the owner reads,
/// anything else the client sent is no business of the hop. The poll and POST numbers too:
/// without them a repeat through another node would take the next records, or be delivered
/// twice. Not the length: the client derives it from the body (a POST's is the client's, a
/// poll goes without one), and a copied one a poll does not carry would leave the pooled
/// connection waiting for bytes that never come.
fn passed_on(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let names = [header::CONTENT_TYPE, header::ORIGIN];
    let ours = [SESSION_HEADER, POLL_HEADER, SEQ_HEADER].map(header::HeaderName::from_static);
    for name in names.into_iter().chain(ours) {
        if let Some(value) = headers.get(&name) {
            out.insert(name, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_request_keeps_its_session_and_numbers_and_nothing_else() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (SESSION_HEADER, "00112233445566778899aabbccddeeff"),
            (POLL_HEADER, "7"),
            (SEQ_HEADER, "9"),
            ("origin", "http://game.example"),
            ("content-type", "application/vnd.tickwire.records"),
            ("content-length", "12"),
            ("cookie", "affinity=a"),
            ("x-tickwire-hop", "forged"),
        ] {
            headers.insert(header::HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let out = passed_on(&headers);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["content-type", "origin", "tickwire-poll", "tickwire-seq", "tickwire-session"]
        );
        assert_eq!(out[POLL_HEADER], "7");
        assert_eq!(out[SEQ_HEADER], "9");
    }

    /// A request that reached the node holding its session, whose answer then broke off or
    /// did not come, may have been taken there: a poll's records taken out of the session, a
    /// POST's delivered. Answered 404, a numbered one was never sent again (the client resumed,
    /// and a poll's records were lost); 502 says "perhaps", and the client repeats it with its
    /// number, which the owner answers as it did the first time. One that never got there (no
    /// connection) is still the 404 of an unknown session, and so is an unnumbered one, which
    /// would take the next records or be delivered twice if sent again.
    #[tokio::test]
    async fn a_numbered_request_the_owner_may_have_taken_gets_502_and_one_it_never_got_404() {
        use tokio::io::AsyncReadExt;
        let (_shutdown, rx) = tokio::sync::watch::channel(false);
        let ctx = crate::context::ServerContext::new(ServerConfig::default(), rx);
        let forwarder = Forwarder::new(&ctx.config);
        let send = |addr: std::net::SocketAddr| {
            let request = Request::get(format!("http://{addr}/fallback/poll")).body(Body::empty());
            let sent = forwarder.client.request(request.unwrap());
            async move { ForwardError::from(sent.await.expect_err("no answer")) }
        };
        // Nobody listens: refused, never sent.
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let refused = send(gone_addr).await;
        // The owner reads the request, then its connection breaks (it died, or was cut).
        let owner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let owner_addr = owner.local_addr().unwrap();
        let dies = tokio::spawn(async move {
            let (mut conn, _) = owner.accept().await.unwrap();
            let mut head = [0; 1024];
            let _ = conn.read(&mut head).await;
        });
        let broke_off = send(owner_addr).await;
        dies.await.unwrap();
        let timed_out = ForwardError::Timeout(Duration::from_secs(25));

        let with = |name: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                SESSION_HEADER,
                HeaderValue::from_static("00112233445566778899aabbccddeeff"),
            );
            if !name.is_empty() {
                headers.insert(name, HeaderValue::from_static("3"));
            }
            headers
        };
        let answer = |headers: &HeaderMap, e: &ForwardError| {
            super::super::forward_failed(&ctx, headers, e).status().as_u16()
        };
        for (e, what) in [(&broke_off, "broke off"), (&timed_out, "timed out")] {
            assert!(e.may_have_arrived(), "{what}: {e}");
            assert_eq!(answer(&with(POLL_HEADER), e), 502, "a numbered poll that {what}: {e}");
            assert_eq!(answer(&with(SEQ_HEADER), e), 502, "a numbered POST that {what}: {e}");
            assert_eq!(answer(&with(""), e), 404, "an unnumbered request that {what}: {e}");
        }
        for (e, what) in [(&refused, "refused"), (&ForwardError::NoSecret, "no secret")] {
            assert!(!e.may_have_arrived(), "{what}: {e}");
            assert_eq!(answer(&with(POLL_HEADER), e), 404, "{what}: {e}");
            assert_eq!(answer(&with(SEQ_HEADER), e), 404, "{what}: {e}");
        }
    }

    #[test]
    fn the_owner_has_past_its_own_longest_wait_to_answer() {
        let config = ServerConfig::default();
        let timeout = head_timeout(&config);
        // A numbered poll waits for the one before it, then for records.
        assert!(timeout > 2 * (config.heartbeat_interval + Duration::from_secs(1)));
        // A numbered POST reads its body, waits for its number's turn, then for room.
        assert!(timeout > config.handshake_timeout + 2 * config.close_timeout);
        let slow = ServerConfig { heartbeat_interval: Duration::from_secs(30), ..config };
        assert!(head_timeout(&slow) > Duration::from_secs(62));
    }
}
