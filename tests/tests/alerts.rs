//! The Prometheus alerting rules of `deploy/prometheus/alerts.yml` against the real thing:
//! `promtool` runs their unit tests, every series they read is one a node serves, and a real
//! Prometheus (Debian's `prometheus` package) scrapes a real server on port 0, evaluates every
//! rule on what it serves, and finds the server down once it stops.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use tickwire_server::metrics::Metrics;
use tickwire_shared::Role;

/// `deploy/prometheus`, where the rules and their tests are.
fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

fn promtool() -> PathBuf {
    debian_binary("promtool", "prometheus", "the alert rules' tests")
}

/// Runs `promtool args` in the rules' directory; fails with its output unless it succeeds.
fn run_promtool(args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(rules_dir())
        .output()
        .expect("promtool runs");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{printed}");
    printed
}

#[test]
fn the_rules_are_valid_and_pass_their_unit_tests() {
    let checked = run_promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    run_promtool(&["check", "config", "prometheus.yml"]);
    let tested = run_promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a test, and a section of deploy/README.md its runbook_url points at.
    let rules = std::fs::read_to_string(rules_dir().join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(rules_dir().join("alerts.test.yml")).unwrap();
    let readme = std::fs::read_to_string(rules_dir().join("../README.md")).unwrap();
    let alerts: Vec<&str> =
        rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    for alert in alerts {
        assert!(tests.contains(&format!("alertname: {alert}\n")), "{alert} has no test");
        assert!(readme.contains(&format!("\n### {alert}\n")), "{alert} has no runbook section");
        assert!(
            rules.contains(&format!("deploy/README.md#{}\"", alert.to_lowercase())),
            "{alert}'s runbook_url"
        );
    }
}

/// The metric families a rule expression names (`tickwire_x_total` is the family
/// `tickwire_x`; a histogram's `_bucket` and `_count` are its family's).
fn families_read(rules: &str) -> BTreeSet<String> {
    let mut families = BTreeSet::new();
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !word.starts_with("tickwire_") {
            continue;
        }
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| word.strip_suffix(suffix))
            .unwrap_or(word);
        families.insert(family.to_string());
    }
    families
}

#[test]
fn every_series_the_rules_read_is_one_a_fleet_node_serves() {
    // A fleet node's metrics: a single server's, its limits, and the directory's.
    let mut metrics = Metrics::new();
    metrics.register_limits(&test_config());
    let gauge = prometheus_client::metrics::gauge::Gauge::<i64>::default;
    metrics.register_node("node-a", gauge(), (gauge(), gauge()));
    let served: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next().map(str::to_string))
        .collect();
    let rules = std::fs::read_to_string(rules_dir().join("alerts.yml")).unwrap();
    // Only the expressions: the descriptions name series too, for people.
    let exprs: String = rules
        .split("expr:")
        .skip(1)
        .map(|rest| rest.split("labels:").next().unwrap_or(""))
        .collect();
    let mut read = families_read(&exprs);
    assert!(read.len() >= 10, "{read:?}");
    // Read beside its new name for nodes of the release before the rename, which serve it.
    assert!(read.remove("tickwire_max_spectators"), "the old name of the spectator cap");
    let missing: Vec<&String> = read.difference(&served).collect();
    assert!(missing.is_empty(), "the rules read series no node serves: {missing:?}");
}

/// A Prometheus on a loopback port of its own, scraping `target` every second as the job
/// `tickwire` and evaluating the rules every second; killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let prometheus = debian_binary("prometheus", "prometheus", "the alert rules' tests");
        let dir = std::env::temp_dir().join(format!("tickwire-prometheus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let rules = rules_dir().join("alerts.yml").canonicalize().unwrap();
        let config = format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
             rule_files: ['{}']\n\
             scrape_configs:\n  - job_name: tickwire\n    static_configs: [{{ targets: ['{target}'] }}]\n",
            rules.display()
        );
        std::fs::write(dir.0.join("prometheus.yml"), config).unwrap();
        // A free port: bound, noted, let go (Prometheus takes no port 0).
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = Command::new(prometheus)
            .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Prometheus { child, addr, _dir: dir }
    }

    /// `GET path` of Prometheus's HTTP API, as JSON; `None` while it does not answer 200
    /// (HTTP/1.0: the whole body, never chunked, then the close).
    async fn api(&self, path: &str) -> Option<serde_json::Value> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = format!("GET {path} HTTP/1.0\r\nHost: prometheus\r\n\r\n");
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response)).await.ok()?.ok()?;
        let response = String::from_utf8(response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        (head.split(' ').nth(1) == Some("200")).then(|| serde_json::from_str(body).ok())?
    }

    /// Asks `path` every 200 ms until `done` finds what it waits for in the answer's `data`;
    /// fails saying `what` after a minute (Prometheus takes seconds to start on a busy machine).
    async fn wait_for<T>(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        loop {
            if let Some(answer) = self.api(path).await {
                if let Some(found) = done(&answer["data"]) {
                    return found;
                }
                last = Some(answer);
            }
            assert!(
                Instant::now() < deadline,
                "{what}: Prometheus's last answer to {path}: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_server_evaluates_every_rule_and_sees_it_go() {
    // Metrics on the admin listener, as deploy/ runs them; a player in a room, so rooms tick.
    let server = TestServer::start_with_admin(test_config()).await;
    let admin = server.admin.unwrap();
    let mut player = Client::join(&server.ws_url(), hello(Role::Player, "scraped")).await;
    player.next_world().await;
    let prometheus = Prometheus::start(admin);

    // The scrape is taken whole: OpenMetrics as the server writes it.
    let target = prometheus
        .wait_for("/api/v1/targets", "the server scraped", |data| {
            let target = data["activeTargets"].as_array()?.first()?.clone();
            (target["health"] == "up").then_some(target)
        })
        .await;
    assert_eq!(target["lastError"], "", "{target}");
    let rooms = prometheus
        .wait_for("/api/v1/query?query=tickwire_rooms", "tickwire_rooms", |data| {
            data["result"].as_array()?.first()?["value"][1].as_str().map(str::to_string)
        })
        .await;
    assert_eq!(rooms, "1");

    // Every rule evaluated on the server's series without an error, and none fires for a
    // healthy server.
    let rules = prometheus
        .wait_for("/api/v1/rules", "every rule evaluated", |data| {
            let rules: Vec<serde_json::Value> = data["groups"]
                .as_array()?
                .iter()
                .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let evaluated = rules.iter().all(|rule| {
                rule["lastEvaluation"].as_str().is_some_and(|at| !at.starts_with("0001"))
            });
            (!rules.is_empty() && evaluated).then_some(rules)
        })
        .await;
    let in_file = std::fs::read_to_string(rules_dir().join("alerts.yml")).unwrap();
    assert_eq!(rules.len(), in_file.matches("- alert: ").count());
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
        assert_eq!(rule["state"], "inactive", "a healthy server fires {rule}");
    }

    // The server stops: TickwireDown goes pending on the job as scraped (it fires after its
    // minute, which the rules' unit tests show).
    drop(player);
    server.shutdown().await;
    let down = prometheus
        .wait_for("/api/v1/alerts", "TickwireDown pending", |data| {
            data["alerts"]
                .as_array()?
                .iter()
                .find(|alert| alert["labels"]["alertname"] == "TickwireDown")
                .cloned()
        })
        .await;
    assert_eq!(down["labels"]["instance"], admin.to_string(), "{down}");
    assert_eq!(down["labels"]["severity"], "critical", "{down}");
}
