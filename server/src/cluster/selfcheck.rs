//! A node's check that its `--node-url` reaches itself.
//!
//! The fleet reaches a node's rooms only at its `--node-url`. A URL that reaches another
//! server (a load balancer's or a Service's address, a reused pod IP, a stale port forward) is
//! refused there ([`super::NODE_HEADER`]) and logged by the nodes that relay, but the node
//! itself would hear nothing, and its operator looks at its log first. So the node asks: a GET
//! of the URL's `/livez`, whose answer names the node that gave it in [`super::NODE_HEADER`].
//! Once registered, and then every [`CHECK_EVERY`]: a balancer's address answers for this node
//! now and then, and a pod IP may be handed to another pod.

use super::{Cluster, NODE_HEADER, http_base};
use crate::connection;
use crate::context::ServerContext;
use crate::metrics::ReachedLabels;
use axum::body::Body;
use axum::http::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Between two checks. One GET each: nothing to the fleet, soon enough for a pod whose address
/// went to another.
const CHECK_EVERY: Duration = Duration::from_secs(30);
/// Longest a check waits for the answer: a node's `/livez` answers at once.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How often an outcome that stays wrong is logged again.
const REPEAT_EVERY: Duration = Duration::from_secs(600);

/// Who answered at the node's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reached {
    /// This node.
    Itself,
    /// Another node, by its id.
    Other(String),
    /// A server that names no node: not a tickwire node of a fleet (or one too old to say).
    NotANode(u16),
    /// Nobody: why.
    Unreachable(String),
}

impl Reached {
    /// The `reached` label of `tickwire_node_url_checks_total` ([`crate::metrics::REACHED`]).
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Reached::Itself => "self",
            Reached::Other(_) => "other_node",
            Reached::NotANode(_) => "not_a_node",
            Reached::Unreachable(_) => "unreachable",
        }
    }
}

/// What an answer at the node's URL says about who gave it.
fn judge(own: &str, status: u16, named: Option<&str>) -> Reached {
    match named {
        Some(node) if node == own => Reached::Itself,
        Some(node) => Reached::Other(node.to_string()),
        None => Reached::NotANode(status),
    }
}

/// One check: who answers `GET /livez` at `node_url`.
async fn check(client: &Client<HttpConnector, Body>, own: &str, node_url: &str) -> Reached {
    let Some(base) = http_base(node_url) else {
        return Reached::Unreachable(format!("{node_url} is not a ws:// URL"));
    };
    let request = match Request::get(format!("{base}/livez")).body(Body::empty()) {
        Ok(request) => request,
        Err(e) => return Reached::Unreachable(e.to_string()),
    };
    match tokio::time::timeout(CHECK_TIMEOUT, client.request(request)).await {
        Err(_) => Reached::Unreachable(format!("no answer within {CHECK_TIMEOUT:?}")),
        Ok(Err(e)) => Reached::Unreachable(with_causes(&e)),
        Ok(Ok(response)) => {
            let named = response.headers().get(NODE_HEADER).and_then(|v| v.to_str().ok());
            judge(own, response.status().as_u16(), named)
        }
    }
}

/// `error` and its causes: hyper's own text alone says only "client error (Connect)".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// Checks the node's URL once it is registered and every [`CHECK_EVERY`] after, counting each
/// outcome and logging a change of outcome (a wrong one again every [`REPEAT_EVERY`]).
pub async fn run(cluster: Arc<Cluster>, ctx: Arc<ServerContext>) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CHECK_TIMEOUT));
    // A fresh connection each time: a kept one would go on reaching whoever answered first.
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut last: Option<(Reached, Instant)> = None;
    loop {
        tokio::select! {
            _ = connection::shutdown_signal(&ctx) => return,
            () = cluster.stop.cancelled() => return,
            _ = every.tick() => {}
        }
        // Before registering, the fleet has no URL of this node to use.
        if !cluster.is_registered() {
            continue;
        }
        every = tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
        let reached = tokio::select! {
            _ = connection::shutdown_signal(&ctx) => return,
            () = cluster.stop.cancelled() => return,
            reached = check(&client, &cluster.node, &cluster.node_url) => reached,
        };
        let labels = ReachedLabels { reached: reached.label() };
        ctx.metrics.node_url_checks.get_or_create(&labels).inc();
        let repeat = last.as_ref().is_none_or(|(said, at)| {
            *said != reached || (reached != Reached::Itself && at.elapsed() >= REPEAT_EVERY)
        });
        if repeat {
            report(&cluster, &reached, last.as_ref().map(|(said, _)| said));
            last = Some((reached, Instant::now()));
        }
    }
}

/// Logs an outcome: an error where the fleet reaches another server, a warning where it may
/// reach nothing, and, after either, that the URL is right again.
fn report(cluster: &Cluster, reached: &Reached, before: Option<&Reached>) {
    let (node, url) = (&cluster.node, &cluster.node_url);
    match reached {
        Reached::Itself if before.is_some() => {
            info!(%node, %url, "the node-url reaches this node again")
        }
        Reached::Itself => info!(%node, %url, "checked: the node-url reaches this node"),
        Reached::Other(other) => error!(
            %node,
            %url,
            reached = %other,
            "the node-url reaches node {other}, not this one: the fleet's joins and resumes for \
             this node's rooms go to {other}, which refuses them; give this node a --node-url \
             only it answers at (its own address, not a load balancer's or a Service's)"
        ),
        Reached::NotANode(status) => error!(
            %node,
            %url,
            status,
            "the node-url reaches a server that is not a node of this fleet (HTTP {status} \
             naming no node): the fleet's joins and resumes for this node's rooms fail there; \
             give this node a --node-url only it answers at"
        ),
        Reached::Unreachable(why) => warn!(
            %node,
            %url,
            error = %why,
            "this node cannot reach its own node-url: the other nodes may not either, and then \
             their joins and resumes for this node's rooms fail; check --node-url and the \
             fleet's network"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_judged_by_the_node_it_names() {
        assert_eq!(judge("a", 200, Some("a")), Reached::Itself);
        assert_eq!(judge("a", 200, Some("b")), Reached::Other("b".into()));
        // A balancer's own page, or a server of no fleet.
        assert_eq!(judge("a", 404, None), Reached::NotANode(404));
        assert_eq!(Reached::Other("b".into()).label(), "other_node");
    }
}
