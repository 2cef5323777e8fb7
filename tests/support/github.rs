//! A fake GitHub issues-comments API on loopback (wiremock): it keeps comments, pages them
//! two at a time with `Link` headers as GitHub does, and records every request.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const OWNER: &str = "acme";
pub const REPO: &str = "flights";
pub const PR: u64 = 7;
/// The fake answers at most this many comments per page, whatever per_page asks.
pub const PAGE_SIZE: usize = 2;

#[derive(Debug, Default)]
struct State {
    /// The server's own address, for the URLs it answers with.
    base: String,
    comments: Vec<(u64, String)>,
    next_id: u64,
    read_only: bool,
}

pub struct FakeGitHub {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

fn comment_json(base: &str, id: u64, body: &str) -> Value {
    let user = json!({
        "login": "github-actions[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
        "url": format!("{base}/users/github-actions%5Bbot%5D"),
        "html_url": "https://github.com/apps/github-actions",
        "followers_url": format!("{base}/users/x/followers"),
        "following_url": format!("{base}/users/x/following"),
        "gists_url": format!("{base}/users/x/gists"),
        "starred_url": format!("{base}/users/x/starred"),
        "subscriptions_url": format!("{base}/users/x/subscriptions"),
        "organizations_url": format!("{base}/users/x/orgs"),
        "repos_url": format!("{base}/users/x/repos"),
        "events_url": format!("{base}/users/x/events"),
        "received_events_url": format!("{base}/users/x/received_events"),
        "type": "Bot", "site_admin": false
    });
    json!({
        "id": id, "node_id": format!("IC_{id}"),
        "url": format!("{base}/repos/{OWNER}/{REPO}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{PR}#issuecomment-{id}"),
        "issue_url": format!("{base}/repos/{OWNER}/{REPO}/issues/{PR}"),
        "body": body, "author_association": "NONE", "user": user,
        "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z"
    })
}

/// A merged pull request as GitHub's pulls API shows it (the fields a client reads).
fn pull_json(base: &str) -> Value {
    json!({
        "url": format!("{base}/repos/{OWNER}/{REPO}/pulls/{PR}"), "id": 1_000_000 + PR,
        "node_id": format!("PR_{PR}"), "number": PR, "state": "closed", "locked": false,
        "title": "Train on more data", "body": null, "draft": false,
        "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{PR}"),
        "merged_at": "2026-11-27T11:00:00Z", "merge_commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "created_at": "2026-11-27T09:00:00Z", "updated_at": "2026-11-27T11:00:00Z",
        "closed_at": "2026-11-27T11:00:00Z", "author_association": "MEMBER",
        "head": {"ref": "more-data", "sha": "def5678def5678def5678def5678def5678def5"},
        "base": {"ref": "main", "sha": "abc1234abc1234abc1234abc1234abc1234abc12"}
    })
}

struct List(Arc<Mutex<State>>);
struct Create(Arc<Mutex<State>>);
struct Update(Arc<Mutex<State>>);

impl Respond for List {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let base = self.0.lock().expect("state").base.clone();
        let page: usize = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let state = self.0.lock().expect("state");
        let all = &state.comments;
        let start = (page - 1) * PAGE_SIZE;
        let items: Vec<Value> = all
            .iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(id, body)| comment_json(&base, *id, body))
            .collect();
        let pages = all.len().div_ceil(PAGE_SIZE).max(1);
        let link = |p: usize, rel: &str| {
            format!("<{base}/repos/{OWNER}/{REPO}/issues/{PR}/comments?per_page=100&page={p}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page < pages {
            links.push(link(page + 1, "next"));
            links.push(link(pages, "last"));
        }
        let mut response = ResponseTemplate::new(200).set_body_json(items);
        if !links.is_empty() {
            response = response.insert_header("Link", links.join(", ").as_str());
        }
        response
    }
}

fn body_of(request: &Request) -> String {
    let value: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    value["body"].as_str().unwrap_or_default().to_string()
}

/// GitHub's answer to a comment body over 65,536 characters, as the REST API gives it.
fn too_long(body: &str) -> Option<ResponseTemplate> {
    (body.chars().count() > 65_536).then(|| {
        ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "IssueComment", "code": "custom", "field": "body",
                        "message": "body is too long (maximum is 65536 characters)"}],
            "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"}))
    })
}

impl Respond for Create {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("state");
        let base = state.base.clone();
        if state.read_only {
            return ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"}));
        }
        let body = body_of(request);
        if let Some(refused) = too_long(&body) {
            return refused;
        }
        state.next_id += 1;
        let id = 1000 + state.next_id;
        state.comments.push((id, body.clone()));
        ResponseTemplate::new(201).set_body_json(comment_json(&base, id, &body))
    }
}

impl Respond for Update {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let base = self.0.lock().expect("state").base.clone();
        let id: u64 = request
            .url
            .path()
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = body_of(request);
        let mut state = self.0.lock().expect("state");
        if state.read_only {
            return ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#update-an-issue-comment"}));
        }
        if let Some(refused) = too_long(&body) {
            return refused;
        }
        match state.comments.iter_mut().find(|(i, _)| *i == id) {
            Some(comment) => {
                comment.1 = body.clone();
                ResponseTemplate::new(200).set_body_json(comment_json(&base, id, &body))
            }
            None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        }
    }
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            base: server.uri(),
            ..State::default()
        }));
        let comments = format!("/repos/{OWNER}/{REPO}/issues/{PR}/comments");
        Mock::given(method("GET"))
            .and(path(comments.as_str()))
            .respond_with(List(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(comments.as_str()))
            .respond_with(Create(state.clone()))
            .mount(&server)
            .await;
        // GitHub documents PATCH and also takes POST for it (octocrab sends POST).
        for verb in ["PATCH", "POST"] {
            Mock::given(method(verb))
                .and(path_regex(format!(
                    r"^/repos/{OWNER}/{REPO}/issues/comments/\d+$"
                )))
                .respond_with(Update(state.clone()))
                .mount(&server)
                .await;
        }
        // "List pull requests associated with a commit": every commit belongs to PR (the
        // pull request that was merged), as GitHub answers for a push to the default branch.
        let pulls = format!("/repos/{OWNER}/{REPO}/commits/[0-9a-f]+/pulls");
        Mock::given(method("GET"))
            .and(path_regex(format!("^{pulls}$")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!([pull_json(&server.uri())])),
            )
            .mount(&server)
            .await;
        FakeGitHub { server, state }
    }

    /// Comments someone else wrote, before ours.
    pub fn add_foreign_comments(&self, count: usize) {
        let mut state = self.state.lock().expect("state");
        for i in 0..count {
            state.next_id += 1;
            let id = 1000 + state.next_id;
            state.comments.push((id, format!("LGTM {i}")));
        }
    }

    /// Answers comment writes with 403, as for a fork's read-only token.
    pub fn make_read_only(&self) {
        self.state.lock().expect("state").read_only = true;
    }

    pub fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().expect("state").comments.clone()
    }

    /// (verb, path) of every request so far; an update is "UPDATE" whichever verb it used.
    pub async fn requests(&self) -> Vec<(String, String)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let path = r.url.path().to_string();
                let verb = if path.contains("/issues/comments/") {
                    "UPDATE".to_string()
                } else {
                    r.method.to_string()
                };
                (verb, path)
            })
            .collect()
    }
}
