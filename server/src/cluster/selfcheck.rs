//! A node's check that its `--node-url` reaches itself.
//!
//! The fleet reaches a node's rooms only at its `--node-url`. A URL that reaches another
//! server (a load balancer's or a Service's address, a reused pod IP, a stale port forward) is
//! refused there ([`super::NODE_HEADER`]) and logged by the nodes that relay, but the node
//! itself would hear nothing, and its operator looks at its log first. So the node asks: a GET
//! of the URL's `/livez`, whose answer names the node that gave it in [`super::NODE_HEADER`].
//! Once registered, and then every `CHECK_EVERY`: a balancer's address answers for this node
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
/// How often a wrong outcome is logged again while it lasts, and how long the URL must reach
/// this node every time before that is logged as right again: a balancer's address answers
/// for this node only now and then, which is wrong too.
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

/// `error` and its causes: hyper's own text alone says only "client error (Connect)". An
/// error whose text is empty (one was logged as `error=` under a heavy load) is named by its
/// `Debug` form instead.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        parts.push(if text.trim().is_empty() { format!("{e:?}") } else { text });
        cause = e.source();
    }
    parts.join(": ")
}

/// What has been logged of the checks, so that a URL that reaches this node only sometimes is
/// one error every [`REPEAT_EVERY`], not a line a check.
#[derive(Debug, Default)]
struct Reports {
    /// The last wrong outcome logged, and when.
    wrong: Option<(&'static str, Instant)>,
    /// The last wrong outcome, logged or not.
    last_wrong: Option<Instant>,
    /// That the URL reaches this node was logged since the last wrong outcome.
    right: bool,
}

impl Reports {
    /// Whether to log `reached`, checked `now`.
    fn due(&mut self, reached: &Reached, now: Instant) -> bool {
        if *reached != Reached::Itself {
            self.last_wrong = Some(now);
            self.right = false;
            let label = reached.label();
            let due = self.wrong.is_none_or(|(said, at)| said != label || now - at >= REPEAT_EVERY);
            if due {
                self.wrong = Some((label, now));
            }
            return due;
        }
        if self.right || self.last_wrong.is_some_and(|at| now - at < REPEAT_EVERY) {
            return false;
        }
        self.right = true;
        true
    }
}

/// Checks the node's URL once it is registered and every `CHECK_EVERY` after, counting each
/// outcome and logging it as `Reports` says.
pub async fn run(cluster: Arc<Cluster>, ctx: Arc<ServerContext>) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CHECK_TIMEOUT));
    // A fresh connection each time: a kept one would go on reaching whoever answered first.
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut reports = Reports::default();
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
        let again = reports.wrong.is_some();
        if reports.due(&reached, Instant::now()) {
            report(&cluster, &reached, again);
        }
    }
}

/// Logs an outcome: an error where the fleet reaches another server, a warning where it may
/// reach nothing, and, `again` after either, that the URL has been right for a while.
fn report(cluster: &Cluster, reached: &Reached, again: bool) {
    let (node, url) = (&cluster.node, &cluster.node_url);
    match reached {
        Reached::Itself if again => info!(
            %node,
            %url,
            "the node-url has reached this node at every check for {REPEAT_EVERY:?}"
        ),
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
    fn an_error_is_told_with_its_causes_and_never_as_nothing() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Connect(#[source] std::io::Error);
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(with_causes(&Connect(refused)), "client error (Connect): refused");
        let silent = std::io::Error::new(std::io::ErrorKind::TimedOut, "");
        let told = with_causes(&silent);
        assert!(told.contains("TimedOut"), "{told}");
    }

    #[test]
    fn an_answer_is_judged_by_the_node_it_names() {
        assert_eq!(judge("a", 200, Some("a")), Reached::Itself);
        assert_eq!(judge("a", 200, Some("b")), Reached::Other("b".into()));
        // A balancer's own page, or a server of no fleet.
        assert_eq!(judge("a", 404, None), Reached::NotANode(404));
        assert_eq!(Reached::Other("b".into()).label(), "other_node");
    }

    /// Behind a balancer's address the checks find this node now and then: one error every
    /// ten minutes, and no "right again" until it has been right for that long.
    #[test]
    fn a_url_that_reaches_this_node_only_sometimes_is_one_error_per_period() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut reports = Reports::default();
        assert!(reports.due(&Reached::Itself, at(0)), "the first right check is said");
        assert!(!reports.due(&Reached::Itself, at(30)), "once");
        let b = Reached::Other("b".into());
        let c = Reached::Other("c".into());
        assert!(reports.due(&b, at(60)));
        let flapping = [(90, &Reached::Itself), (120, &c), (150, &Reached::Itself), (180, &b)];
        for (s, reached) in flapping {
            assert!(!reports.due(reached, at(s)), "{reached:?} at {s} s");
        }
        assert!(reports.due(&Reached::Unreachable("reset".into()), at(210)), "another kind");
        assert!(reports.due(&b, at(240)), "and back");
        assert!(!reports.due(&c, at(240 + 599)));
        assert!(reports.due(&c, at(240 + 600)), "again after the period");
        // Right from then on: said once it has been right for the period.
        assert!(!reports.due(&Reached::Itself, at(870)));
        assert!(!reports.due(&Reached::Itself, at(840 + 599)));
        assert!(reports.due(&Reached::Itself, at(840 + 600)));
        assert!(!reports.due(&Reached::Itself, at(840 + 630)));
    }
}
