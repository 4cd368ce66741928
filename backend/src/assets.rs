//! The frontend bundle: Trunk's `dist/`, served with what browsers need to
//! keep it safe and fast. Precompressed brotli and gzip files (made when
//! the bundle is built) go to browsers that accept them; hashed files are
//! cached for a year, pages never without asking; every page carries a
//! strict Content-Security-Policy that allows its own inline bootstrap by
//! hash and nothing else inline. A missing file is a 404; only paths that
//! name no file (page routes) get `index.html`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// The policy every page gets, before the hashes of its inline scripts.
/// Images may come from anywhere over http(s): bot engines send pictures.
const CSP_BASE: &str = "default-src 'self'; img-src 'self' data: http: https:; \
     style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Headers every response of the bundle gets.
const ALWAYS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// Serves `dist`.
pub(crate) fn router(dist: &Path) -> Router {
    let pages = Arc::new(Pages::read(dist));
    let index = dist.join("index.html");
    let page_routes = tower::service_fn(move |request: Request| {
        let index = index.clone();
        async move {
            if names_a_file(request.uri().path()) {
                return Ok((StatusCode::NOT_FOUND, "Not found\n").into_response());
            }
            let file = ServeFile::new(index)
                .precompressed_br()
                .precompressed_gzip();
            file.oneshot(request).await.map(IntoResponse::into_response)
        }
    });
    let files = ServeDir::new(dist)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(page_routes);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(pages, headers))
}

/// Whether `path` names a file (its last segment has an extension), so a
/// miss is a 404 rather than a page route.
fn names_a_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// Trunk names what it builds `name-<16 hex digits>.ext` (or `_bg.wasm`
/// after the hash): such a file never changes.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn headers(State(pages): State<Arc<Pages>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"text/html"));
    let headers = response.headers_mut();
    for (name, value) in ALWAYS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let cache = if is_hashed(&path) && !is_html {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if is_html && let Some(policy) = pages.policy(&path) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// The Content-Security-Policy of each page of the bundle, made when the
/// server starts from the page's inline scripts.
#[derive(Debug, Default)]
struct Pages {
    /// By path below `dist` (`index.html`, `about/index.html`).
    policies: HashMap<PathBuf, HeaderValue>,
    /// The policy of `index.html`, which page routes get.
    index: Option<HeaderValue>,
}

impl Pages {
    fn read(dist: &Path) -> Self {
        let mut pages = Self::default();
        let Ok(entries) = std::fs::read_dir(dist) else {
            return pages;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "html")
                && let Ok(html) = std::fs::read_to_string(&path)
                && let Ok(policy) = HeaderValue::from_str(&policy_for(&html))
            {
                let name = PathBuf::from(entry.file_name());
                if name == Path::new("index.html") {
                    pages.index = Some(policy.clone());
                }
                pages.policies.insert(name, policy);
            }
        }
        pages
    }

    fn policy(&self, path: &str) -> Option<HeaderValue> {
        let relative = path.trim_start_matches('/');
        if relative.is_empty() || !names_a_file(path) {
            return self.index.clone();
        }
        self.policies.get(Path::new(relative)).cloned()
    }
}

/// The policy for a page: the base, and scripts from the server plus the
/// inline ones in `html` by their SHA-256, with WebAssembly compilation.
/// Inline event handlers (`onclick="..."`, as pages written for other
/// servers have) are allowed by hash too, with `'unsafe-hashes'`, and only
/// those: a handler injected later matches none.
fn policy_for(html: &str) -> String {
    let hash = |text: &str| {
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        )
    };
    let handlers: Vec<String> = inline_handlers(html).map(hash).collect();
    let mut sources = vec!["'self'".to_owned(), "'wasm-unsafe-eval'".to_owned()];
    if !handlers.is_empty() {
        sources.push("'unsafe-hashes'".to_owned());
        sources.extend(handlers);
    }
    sources.extend(inline_scripts(html).map(hash));
    sources.dedup();
    format!("{CSP_BASE}; script-src {}", sources.join(" "))
}

/// The values of the event-handler attributes (`on...="..."`) in `html`'s tags.
fn inline_handlers(html: &str) -> impl Iterator<Item = &str> {
    html.split('<')
        .skip(1)
        .filter_map(|tag| tag.split_once('>').map(|(inside, _)| inside))
        .flat_map(attribute_values)
        .filter_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            (name.len() > 2 && name.starts_with("on")).then_some(value)
        })
}

/// `(name, value)` of a tag's quoted attributes (`<input a="x" b='y'>`).
fn attribute_values(tag: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = tag;
    std::iter::from_fn(move || {
        loop {
            let equals = rest.find('=')?;
            let name = rest[..equals].trim_end();
            let name = name
                .rsplit(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            let after = rest[equals + 1..].trim_start();
            let quote = after.chars().next()?;
            if quote != '"' && quote != '\'' {
                rest = after;
                continue;
            }
            let value_and_rest = &after[1..];
            let end = value_and_rest.find(quote)?;
            let value = &value_and_rest[..end];
            rest = &value_and_rest[end + 1..];
            return Some((name, value));
        }
    })
}

/// The text of every `<script>` element without a `src` in `html`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = find_ignoring_case(rest, "<script")?;
            let after_tag = &rest[start..];
            let open_end = after_tag.find('>')?;
            let open = &after_tag[..open_end];
            let body_start = start + open_end + 1;
            let close = find_ignoring_case(&rest[body_start..], "</script")?;
            let body = &rest[body_start..body_start + close];
            rest = &rest[body_start + close..];
            if !open.to_ascii_lowercase().contains(" src=") {
                return Some(body);
            }
        }
    })
}

fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_hashed_names_are_recognised() {
        assert!(is_hashed("/frontend-3f2a9c1b0d4e5f67_bg.wasm"));
        assert!(is_hashed("/frontend-3f2a9c1b0d4e5f67.js"));
        assert!(is_hashed("/main-0123456789abcdef.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/socket.io/socket.io.js"));
        assert!(!is_hashed("/my-file.js"));
    }

    #[test]
    fn only_paths_that_name_no_file_are_page_routes() {
        assert!(names_a_file("/missing.js"));
        assert!(names_a_file("/a/b/c.wasm"));
        assert!(!names_a_file("/"));
        assert!(!names_a_file("/rooms/general"));
    }

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_scripts_with_src_need_none() {
        let html = r#"<html><head><script type="module">import init from '/a.js'; init();</script>
            <SCRIPT src="/b.js"></SCRIPT><script>x()</script></head></html>"#;
        let scripts: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(scripts, ["import init from '/a.js'; init();", "x()"]);
        let policy = policy_for(html);
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"x()"));
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("unsafe-hashes"));
    }

    #[test]
    fn inline_handlers_of_a_page_are_allowed_by_hash_and_nothing_else() {
        let html = r#"<input type="button" id="send" value="Send" onclick="sendMessage()"/>
            <form ONSUBMIT='go(); return false' action="">"#;
        let handlers: Vec<&str> = inline_handlers(html).collect();
        assert_eq!(handlers, ["sendMessage()", "go(); return false"]);
        let policy = policy_for(html);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"sendMessage()"));
        assert!(policy.contains("'unsafe-hashes'"), "{policy}");
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
    }
}
