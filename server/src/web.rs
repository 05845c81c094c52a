//! The browser client: the game at `/`, the dashboard at `/dashboard`, and their scripts and
//! styles under `/assets/<version>/`.
//!
//! The files of `client-web/` are embedded into the binary at compile time, so the server
//! alone serves the game; `--web-root DIR` reads them from disk instead while developing
//! (every request reads the file again, so an edit shows on reload).
//!
//! Caching: HTML pages are revalidated on every load (`no-cache` with an `ETag`, answered
//! `304` when unchanged). Every other file is served under `/assets/<version>/`, where
//! `<version>` is a hash of all embedded files: the pages name their assets through the
//! `/@assets/` prefix, which is rewritten to the current version as they are served, so a
//! browser caches assets for a year (`immutable`) and a new build changes every asset URL.
//! From disk the version is `dev` and nothing is cached.
//!
//! Path prefixes: the rewritten asset URLs are relative (`./assets/<version>/`), as is every
//! other URL the pages use. Every page is at the root, so they resolve to the same paths, and
//! a reverse proxy may serve the server under a prefix (`https://example.com/tw/`) unchanged.
//!
//! The dashboard's links depend on the listener serving it ([`DashboardLinks`]): the page says
//! where the game is in `<meta name="tickwire-game">`, whether `/metrics` is beside it in
//! `<meta name="tickwire-metrics">`, and whether the moderation routes beside it answer in
//! `<meta name="tickwire-moderation">`, all rewritten as served, and hides what it cannot link.
//!
//! Compression: text files above [`COMPRESS_MIN_BYTES`] are gzipped once, on first request,
//! and kept; the gzip copy is served to clients that accept it when it saves at least a tenth.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rust_embed::RustEmbed;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Component, PathBuf};
use std::sync::{Arc, OnceLock};

/// Files smaller than this are not worth compressing (a gzip header and trailer are ~20 bytes,
/// and a small response fits one TCP segment either way).
pub const COMPRESS_MIN_BYTES: usize = 1024;

/// The prefix pages use for their assets; rewritten to `./assets/<version>/` when served.
const ASSET_PLACEHOLDER: &str = "/@assets/";

/// The dashboard's `tickwire-game` marker, rewritten to [`DashboardLinks::game`].
const GAME_PLACEHOLDER: &str = "/@game/";

/// The dashboard's `tickwire-metrics` marker, rewritten to `metrics` or to nothing.
const METRICS_PLACEHOLDER: &str = "/@metrics/";

/// The dashboard's `tickwire-moderation` marker, rewritten to `on`, `off` (no `--admin-token`)
/// or nothing (the moderation routes are on another listener).
const MODERATION_PLACEHOLDER: &str = "/@moderation/";

/// One year, the longest lifetime caches honour; asset URLs change with every build.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The served part of `client-web/`. The globs mirror [`is_servable`].
#[derive(RustEmbed)]
#[folder = "../client-web/"]
#[include = "*.html"]
#[include = "favicon.svg"]
#[include = "css/*"]
#[include = "js/*"]
#[include = "vendor/**/*.js"]
#[include = "vendor/**/*.css"]
#[include = "sdk/index.js"]
#[include = "sdk/src/*"]
#[exclude = "node_modules/*"]
#[exclude = "*/node_modules/*"]
struct Embedded;

/// Whether `path` (relative, `/`-separated) is part of the web client. Tests, tooling and
/// `node_modules/` under `client-web/` are never served, from the binary or from disk. A
/// game's own page (`--web-root`) keeps its images, sounds, levels and fonts under `media/`,
/// at any depth, of the types [`content_type`] knows.
pub fn is_servable(path: &str) -> bool {
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == ".." || part.starts_with('.'))
    {
        return false;
    }
    let top_level = !path.contains('/');
    (top_level && (path.ends_with(".html") || path == "favicon.svg"))
        || path.strip_prefix("css/").is_some_and(|rest| !rest.contains('/'))
        || path.strip_prefix("js/").is_some_and(|rest| !rest.contains('/'))
        || (path.starts_with("vendor/") && (path.ends_with(".js") || path.ends_with(".css")))
        || path == "sdk/index.js"
        || path.strip_prefix("sdk/src/").is_some_and(|rest| !rest.contains('/'))
        || path.starts_with("media/")
}

/// The content type of a file, by extension; `None` for types the client does not use.
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, ext)| ext)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ogg" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("image/svg")
        || content_type == "application/json"
}

/// One file, ready to serve.
#[derive(Debug)]
struct Asset {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
    /// The gzip representation's own tag: a strong tag names one representation, or a cache
    /// revalidating with it could hand the gzip bytes to a client that never accepted them
    /// (RFC 9110 8.8.3).
    etag_gzip: HeaderValue,
    /// Computed on first request: `Some` when gzip pays for this file.
    gzip: OnceLock<Option<Bytes>>,
}

impl Asset {
    fn new(body: Bytes, content_type: &'static str, etag: String) -> Asset {
        let tag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{etag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        };
        Asset { body, content_type, etag: tag(""), etag_gzip: tag("-gz"), gzip: OnceLock::new() }
    }

    fn gzipped(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| {
                if self.body.len() < COMPRESS_MIN_BYTES || !compressible(self.content_type) {
                    return None;
                }
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                encoder.write_all(&self.body).ok()?;
                let packed = encoder.finish().ok()?;
                (packed.len() < self.body.len() - self.body.len() / 10).then(|| packed.into())
            })
            .as_ref()
    }
}

/// Where files come from.
#[derive(Debug)]
enum Source {
    /// Compiled in; assets by path, each built on first request.
    Embedded(HashMap<String, OnceLock<Option<Arc<Asset>>>>),
    /// Read from this directory on every request (`--web-root`).
    Disk(PathBuf),
}

/// The web client's files and their version.
#[derive(Debug)]
pub struct WebAssets {
    source: Source,
    version: String,
}

/// A short, stable hex digest (FNV-1a, 64 bits) for ETags of files read from disk.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl WebAssets {
    /// The files compiled into this binary.
    pub fn embedded() -> WebAssets {
        let mut files: Vec<String> = Embedded::iter().map(|p| p.into_owned()).collect();
        files.sort();
        // The version covers every file's content hash, so any change makes new asset URLs.
        let mut digest = Vec::with_capacity(files.len() * 40);
        for path in &files {
            digest.extend_from_slice(path.as_bytes());
            if let Some(file) = Embedded::get(path) {
                digest.extend_from_slice(&file.metadata.sha256_hash());
            }
        }
        let version = format!("{:016x}", fnv1a(&digest))[..12].to_string();
        let source =
            Source::Embedded(files.into_iter().map(|path| (path, OnceLock::new())).collect());
        WebAssets { source, version }
    }

    /// Files read from `root` on each request, never cached by browsers.
    pub fn from_disk(root: PathBuf) -> WebAssets {
        WebAssets { source: Source::Disk(root), version: "dev".to_string() }
    }

    /// The asset version in URLs: a content hash, or `dev` when serving from disk.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Paths of the embedded files (empty when serving from disk).
    pub fn embedded_paths(&self) -> Vec<&str> {
        match &self.source {
            Source::Embedded(files) => files.keys().map(String::as_str).collect(),
            Source::Disk(_) => Vec::new(),
        }
    }

    /// A file, ready to serve: embedded ones built once, on first request. A page's dashboard
    /// markers link nothing ([`DashboardLinks::default`]); `/dashboard` is served by
    /// [`Dashboard`], with the listener's links.
    fn load(&self, path: &str) -> Option<Arc<Asset>> {
        match &self.source {
            Source::Embedded(files) => {
                let slot = files.get(path)?;
                let links = DashboardLinks::default();
                slot.get_or_init(|| self.read(path, &links).map(Arc::new)).clone()
            }
            Source::Disk(_) => self.read(path, &DashboardLinks::default()).map(Arc::new),
        }
    }

    /// Reads `path` and prepares it to serve, a page rewritten with `links`. Not cached.
    fn read(&self, path: &str, links: &DashboardLinks) -> Option<Asset> {
        if !is_servable(path) {
            return None;
        }
        let content_type = content_type(path)?;
        let (file, etag) = match &self.source {
            Source::Embedded(_) => {
                let file = Embedded::get(path)?;
                let hash = file.metadata.sha256_hash();
                let etag: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
                (file.data.into_owned(), format!("{}-{etag}", self.version))
            }
            Source::Disk(root) => {
                let relative: PathBuf = path.split('/').collect();
                if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
                    return None;
                }
                // A game's own page served from its directory still imports the SDK this
                // server speaks with: the SDK's files come from the binary when the directory
                // has none.
                let file = match std::fs::read(root.join(relative)) {
                    Ok(file) => file,
                    Err(_) if path.starts_with("sdk/") => Embedded::get(path)?.data.into_owned(),
                    Err(_) => return None,
                };
                let etag = format!("dev-{:016x}", fnv1a(&file));
                (file, etag)
            }
        };
        if !path.ends_with(".html") {
            return Some(Asset::new(Bytes::from(file), content_type, etag));
        }
        let body = self.rewrite_html(&file, links);
        // The page as served, not the file: the dashboard differs by listener.
        let etag = format!("{etag}-{:08x}", fnv1a(&body) as u32);
        Some(Asset::new(body, content_type, etag))
    }

    fn rewrite_html(&self, html: &[u8], links: &DashboardLinks) -> Bytes {
        let text = String::from_utf8_lossy(html);
        // Relative, not `/assets/`: under a reverse proxy's path prefix a root-absolute URL
        // would leave the prefix. `./` rather than a bare `assets/` keeps a page's version
        // findable as `/assets/<version>/` in its text.
        let text = text.replace(ASSET_PLACEHOLDER, &format!("./assets/{}/", self.version));
        let metrics = if links.metrics { "metrics" } else { "" };
        // The moderation routes are served where `/metrics` is (`moderation::router`).
        let moderation = match (links.metrics, links.moderation) {
            (false, _) => "",
            (true, false) => "off",
            (true, true) => "on",
        };
        Bytes::from(
            text.replace(GAME_PLACEHOLDER, &attribute(&links.game))
                .replace(METRICS_PLACEHOLDER, metrics)
                .replace(MODERATION_PLACEHOLDER, moderation),
        )
    }

    fn is_dev(&self) -> bool {
        matches!(self.source, Source::Disk(_))
    }
}

/// `text` escaped for an HTML attribute value in double quotes.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// What the dashboard links to besides its own listener's routes, which depends on the
/// listener serving it. The default links nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardLinks {
    /// The game's URL, ending in `/`, for the Play link and each room's watch link: `./` on the
    /// public listener; from the admin listener, which serves no game, the `--public-url`, or
    /// empty when there is none, and the page leaves those links out.
    pub game: String,
    /// Whether `/metrics` is served beside the dashboard: not on the public listener of a
    /// server with an admin listener. The moderation routes are served with it.
    pub metrics: bool,
    /// Whether moderation is on (`--admin-token`), for the dashboard's moderation panel where
    /// `metrics` is: it asks for the token, or says how to turn moderation on.
    pub moderation: bool,
}

impl DashboardLinks {
    /// The public listener's: the game beside it, `/metrics` and moderation too unless the
    /// admin listener took them.
    pub fn public(metrics: bool, moderation: bool) -> DashboardLinks {
        DashboardLinks { game: "./".to_string(), metrics, moderation }
    }

    /// The admin listener's: the game at `public_url` (`--public-url`), if known.
    pub fn admin(public_url: Option<&str>, moderation: bool) -> DashboardLinks {
        let game =
            public_url.map_or(String::new(), |url| format!("{}/", url.trim_end_matches('/')));
        DashboardLinks { game, metrics: true, moderation }
    }
}

/// The dashboard as one listener serves it: the page with that listener's [`DashboardLinks`].
#[derive(Debug)]
pub struct Dashboard {
    assets: Arc<WebAssets>,
    links: DashboardLinks,
    /// The embedded page, rewritten on first request.
    page: OnceLock<Option<Arc<Asset>>>,
}

impl Dashboard {
    /// The dashboard of `assets`, linking as `links` says.
    pub fn new(assets: Arc<WebAssets>, links: DashboardLinks) -> Dashboard {
        Dashboard { assets, links, page: OnceLock::new() }
    }

    fn page(&self) -> Option<Arc<Asset>> {
        let read = || self.assets.read("dashboard.html", &self.links).map(Arc::new);
        match self.assets.source {
            Source::Embedded(_) => self.page.get_or_init(read).clone(),
            Source::Disk(_) => read(),
        }
    }
}

/// Whether the request's `Accept-Encoding` allows gzip (RFC 9110 section 12.5.3): a `gzip`
/// item decides, `q=0` refusing it; without one, a `*` item does. Public (hidden) for the
/// `http_headers` fuzz target.
#[doc(hidden)]
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        // The parameter's name is case-insensitive (`Q=0` refuses too).
        let refused = parts.any(|p| {
            p.get(..2).is_some_and(|name| name.eq_ignore_ascii_case("q="))
                && p[2..].trim().parse::<f32>().ok() == Some(0.0)
        });
        let slot = if coding.eq_ignore_ascii_case("gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.unwrap_or(false) || !refused);
    }
    gzip.or(any).unwrap_or(false)
}

/// Whether `If-None-Match` names this ETag (or `*`). Public (hidden) for the `http_headers`
/// fuzz target.
#[doc(hidden)]
pub fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(wanted) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let etag = etag.to_str().unwrap_or("");
    wanted.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

fn serve(
    assets: &WebAssets,
    path: &str,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Response {
    serve_asset(assets, assets.load(path), path, headers, cache_control)
}

fn serve_asset(
    assets: &WebAssets,
    asset: Option<Arc<Asset>>,
    path: &str,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Response {
    let Some(asset) = asset else {
        return (
            StatusCode::NOT_FOUND,
            format!("not found: /{path} is not part of the web client\n"),
        )
            .into_response();
    };
    let cache_control = if assets.is_dev() { "no-cache" } else { cache_control };
    let packed = asset.gzipped().filter(|_| accepts_gzip(headers));
    let etag = if packed.is_some() { &asset.etag_gzip } else { &asset.etag };
    let mut response = if not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match packed {
            Some(packed) => {
                let mut response = Response::new(Body::from(packed.clone()));
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            None => Response::new(Body::from(asset.body.clone())),
        }
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    out.insert(header::ETAG, etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.content_type.starts_with("text/html") {
        out.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 connect-src 'self'; frame-ancestors 'none'",
            ),
        );
        out.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// `GET /`: the game.
pub async fn index(State(assets): State<Arc<WebAssets>>, headers: HeaderMap) -> Response {
    serve(&assets, "index.html", &headers, "no-cache")
}

/// `GET /dashboard`: the operator dashboard, with its listener's links.
pub async fn dashboard(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let assets = &dashboard.assets;
    serve_asset(assets, dashboard.page(), "dashboard.html", &headers, "no-cache")
}

/// `GET /assets/{version}/{*path}`: a script, style or image. The current version is cached
/// for good; another version (a page loaded before an upgrade) gets today's file, revalidated.
/// The SDK's files may be imported by a page of any origin ([`sdk_entry`]).
pub async fn asset(
    State(assets): State<Arc<WebAssets>>,
    Path((version, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let cache = if version == assets.version() { IMMUTABLE } else { "no-cache" };
    let mut response = serve(&assets, &path, &headers, cache);
    if path.starts_with("sdk/") {
        open_to_any_origin(&mut response);
    }
    response
}

/// `GET /sdk/index.js`: the JavaScript SDK at a URL that outlives a build, for a game's page
/// on another origin (`import { TickwireClient } from 'https://game.example/sdk/index.js'`).
/// A redirect (`302`, revalidated) to this build's copy under `/assets/<version>/`, so the
/// SDK's own imports resolve there, cached for good; relative, so a reverse proxy's path
/// prefix is kept. Both answers allow any origin: a module script from another origin is
/// fetched with CORS, each redirect included, and the SDK is public code sent without
/// credentials.
pub async fn sdk_entry(State(assets): State<Arc<WebAssets>>) -> Response {
    let location = format!("../assets/{}/sdk/index.js", assets.version());
    let mut response = (
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::CACHE_CONTROL, "no-cache".to_string())],
    )
        .into_response();
    open_to_any_origin(&mut response);
    response
}

fn open_to_any_origin(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_client_is_servable() {
        for path in [
            "index.html",
            "favicon.svg",
            "css/game.css",
            "js/app.js",
            "sdk/index.js",
            "sdk/src/codec.js",
            "vendor/uplot/uPlot.esm.js",
            "media/ship.png",
            "media/levels/one.json",
        ] {
            assert!(is_servable(path), "{path}");
        }
        for path in [
            "package.json",
            "node_modules/x/index.js",
            "sdk/test/codec.test.js",
            "sdk/package.json",
            "vendor/uplot/LICENSE",
            "vendor/uplot/uPlot.esm.d.ts",
            "../Cargo.toml",
            "js/../../secret",
            "js//app.js",
            ".git/config",
            "test/e2e.mjs",
            "media/../secret",
            "media/.env",
        ] {
            assert!(!is_servable(path), "{path}");
        }
    }

    #[test]
    fn every_embedded_file_is_servable_and_typed() {
        let assets = WebAssets::embedded();
        let paths = assets.embedded_paths();
        for page in ["index.html", "dashboard.html", "js/app.js", "sdk/index.js"] {
            assert!(paths.contains(&page), "{page} is not embedded");
        }
        for path in paths {
            assert!(is_servable(path), "{path} is embedded but not servable");
            assert!(content_type(path).is_some(), "{path} has no content type");
        }
    }

    #[test]
    fn pages_name_their_assets_by_version() {
        let assets = WebAssets::embedded();
        for path in ["index.html", "dashboard.html"] {
            let page = assets.load(path).expect("a page");
            let text = std::str::from_utf8(&page.body).expect("utf-8");
            assert!(!text.contains(ASSET_PLACEHOLDER), "{path}");
            assert!(text.contains(&format!("\"./assets/{}/js/", assets.version())), "{path}");
        }
    }

    #[test]
    fn pages_name_their_assets_relative_to_themselves() {
        // A reverse proxy may serve the server under a path prefix: a root-absolute asset URL
        // would leave it.
        let assets = WebAssets::embedded();
        for path in ["index.html", "dashboard.html"] {
            let page = assets.load(path).expect("a page");
            let text = std::str::from_utf8(&page.body).expect("utf-8");
            assert!(!text.contains("\"/assets/"), "{path} names an asset from the root");
        }
        let root = std::env::temp_dir().join(format!("tickwire-web-rel-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("index.html"), "<script src=\"/@assets/js/app.js\"></script>")
            .expect("write");
        let page = WebAssets::from_disk(root.clone()).load("index.html").expect("served");
        assert_eq!(&page.body[..], b"<script src=\"./assets/dev/js/app.js\"></script>");
        let _ = std::fs::remove_dir_all(root);
    }

    /// The dashboard's markers as served with `links`.
    fn dashboard_markers(assets: &Arc<WebAssets>, links: DashboardLinks) -> (String, String) {
        let page = Dashboard::new(assets.clone(), links).page().expect("the dashboard");
        let text = std::str::from_utf8(&page.body).expect("utf-8").to_string();
        for marker in [GAME_PLACEHOLDER, METRICS_PLACEHOLDER, MODERATION_PLACEHOLDER] {
            assert!(!text.contains(marker), "{marker} left in the page");
        }
        (text, page.etag.to_str().expect("ascii").to_string())
    }

    #[test]
    fn the_dashboard_says_where_the_game_metrics_and_moderation_are_by_listener() {
        let assets = Arc::new(WebAssets::embedded());
        let game = |url: &str| format!("<meta name=\"tickwire-game\" content=\"{url}\">");
        let metrics = |on: bool| {
            format!(
                "<meta name=\"tickwire-metrics\" content=\"{}\">",
                if on { "metrics" } else { "" }
            )
        };
        let moderation =
            |state: &str| format!("<meta name=\"tickwire-moderation\" content=\"{state}\">");
        let mut etags = Vec::new();
        for (links, url, beside, moderated) in [
            // One listener: the game, /metrics and moderation beside the dashboard.
            (DashboardLinks::public(true, false), "./", true, "off"),
            (DashboardLinks::public(true, true), "./", true, "on"),
            // The public listener of a server with an admin one: /metrics and moderation are
            // on the other, whether or not it has a token.
            (DashboardLinks::public(false, false), "./", false, ""),
            (DashboardLinks::public(false, true), "./", false, ""),
            // The admin listener: no game here, and none known.
            (DashboardLinks::admin(None, false), "", true, "off"),
            (DashboardLinks::admin(None, true), "", true, "on"),
            // The admin listener with --public-url: the game there.
            (
                DashboardLinks::admin(Some("https://play.example.com/tw"), true),
                "https://play.example.com/tw/",
                true,
                "on",
            ),
            (
                DashboardLinks::admin(Some("https://x.example/a&b/"), false),
                "https://x.example/a&amp;b/",
                true,
                "off",
            ),
        ] {
            let (text, etag) = dashboard_markers(&assets, links.clone());
            assert!(text.contains(&game(url)), "{links:?}: {text}");
            assert!(text.contains(&metrics(beside)), "{links:?}: {text}");
            assert!(text.contains(&moderation(moderated)), "{links:?}: {text}");
            assert!(text.contains(&format!("\"./assets/{}/js/", assets.version())));
            etags.push(etag);
        }
        etags.sort();
        etags.dedup();
        // The public listener's two without moderation beside them are the same page.
        assert_eq!(etags.len(), 7, "each variant is a representation of its own");
        // The page at any other path links nothing.
        let page = assets.load("dashboard.html").expect("a page");
        let text = std::str::from_utf8(&page.body).expect("utf-8");
        assert!(
            text.contains(&game(""))
                && text.contains(&metrics(false))
                && text.contains(&moderation("")),
            "{text}"
        );
    }

    #[test]
    fn the_dashboard_from_disk_is_rewritten_on_every_request() {
        let root = std::env::temp_dir().join(format!("tickwire-web-dash-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("mkdir");
        let page = root.join("dashboard.html");
        std::fs::write(&page, "<meta content=\"/@game/\">").expect("write");
        let assets = Arc::new(WebAssets::from_disk(root.clone()));
        let links = DashboardLinks::admin(Some("http://10.0.0.5:8080"), true);
        let dashboard = Dashboard::new(assets, links);
        assert_eq!(
            &dashboard.page().expect("served").body[..],
            b"<meta content=\"http://10.0.0.5:8080/\">"
        );
        std::fs::write(&page, "<a href=\"/@game/\">").expect("write");
        assert_eq!(
            &dashboard.page().expect("served").body[..],
            b"<a href=\"http://10.0.0.5:8080/\">"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn large_text_is_gzipped_once_and_small_files_are_not() {
        let big = Asset::new(
            Bytes::from("let x = 1;\n".repeat(500)),
            "text/javascript; charset=utf-8",
            "a".into(),
        );
        let packed = big.gzipped().expect("compresses").clone();
        assert!(packed.len() < big.body.len() / 4);
        let mut decoder = flate2::read::GzDecoder::new(&packed[..]);
        let mut round = String::new();
        std::io::Read::read_to_string(&mut decoder, &mut round).expect("valid gzip");
        assert_eq!(round.as_bytes(), &big.body[..]);
        let small = Asset::new(Bytes::from_static(b"tiny"), "text/css; charset=utf-8", "b".into());
        assert!(small.gzipped().is_none());
        let png = Asset::new(Bytes::from(vec![0u8; 4096]), "image/png", "c".into());
        assert!(png.gzipped().is_none(), "binary formats are already compressed");
    }

    #[test]
    fn accept_encoding_and_if_none_match_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        assert!(!accepts_gzip(&h));
        // A gzip item decides over `*`, and the parameter's name is case-insensitive.
        for (value, gzip) in [("gzip;q=0, *", false), ("gzip;Q=0", false), ("br, *", true)] {
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            assert_eq!(accepts_gzip(&h), gzip, "{value}");
        }
        let etag = HeaderValue::from_static("\"v1-abc\"");
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\", W/\"v1-abc\""));
        assert!(not_modified(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert!(!not_modified(&h, &etag));
    }

    #[test]
    fn disk_mode_refuses_escapes() {
        let root = std::env::temp_dir().join(format!("tickwire-web-{}", std::process::id()));
        std::fs::create_dir_all(root.join("js")).expect("mkdir");
        std::fs::write(root.join("js/app.js"), "export {};\n").expect("write");
        let assets = WebAssets::from_disk(root.clone());
        assert_eq!(assets.version(), "dev");
        assert_eq!(&assets.load("js/app.js").expect("served").body[..], b"export {};\n");
        assert!(assets.load("js/../js/app.js").is_none());
        assert!(assets.load("js/missing.js").is_none());
        let _ = std::fs::remove_dir_all(root);
    }
}
