//! The only code that calls GitHub: the sticky pull-request comment, through octocrab.

use octocrab::models::CommentId;
use octocrab::Octocrab;

/// What happened to the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentOutcome {
    Created(u64),
    Updated(u64),
    /// The comment already says exactly this: nothing was sent.
    Unchanged(u64),
}

/// Why the comment could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GITHUB_REPOSITORY is {0:?}, not OWNER/REPO")]
    Repository(String),
    #[error("the token may not write comments here (HTTP {status}); a pull request from a fork gets a read-only token: the plan is in the job summary")]
    ReadOnly { status: u16 },
    #[error("GitHub API call failed ({action}): {detail}")]
    Api { action: String, detail: String },
}

fn api_error(action: &str, error: octocrab::Error) -> GitHubError {
    if let octocrab::Error::GitHub { source, .. } = &error {
        let status = source.status_code.as_u16();
        if status == 403 || status == 404 {
            return GitHubError::ReadOnly { status };
        }
    }
    GitHubError::Api {
        action: action.to_string(),
        detail: without_backtraces(&error),
    }
}

/// The error chain without the "Found at" backtraces octocrab puts into its messages.
fn without_backtraces(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        let text = text
            .split("Found at")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// A repository's issues API.
pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
}

impl GitHub {
    /// `api_url` is GITHUB_API_URL (GitHub Enterprise and test servers differ).
    pub fn new(api_url: &str, token: &str, repository: &str) -> Result<Self, GitHubError> {
        crate::init_tls();
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty())
            .ok_or_else(|| GitHubError::Repository(repository.to_string()))?;
        let client = Octocrab::builder()
            .base_uri(api_url)
            .and_then(|b| b.personal_token(token.to_string()).build())
            .map_err(|e| GitHubError::Api {
                action: "setting up the client".into(),
                detail: crate::error_chain(&e),
            })?;
        Ok(GitHub {
            client,
            owner: owner.to_string(),
            repo: repo.to_string(),
        })
    }

    /// Creates the pull request's comment that carries `marker`, or updates it in place
    /// (found across every page of comments), or leaves it alone when `body` is unchanged.
    pub async fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome, GitHubError> {
        let issues = self.client.issues(&self.owner, &self.repo);
        let first = issues
            .list_comments(number)
            .per_page(100)
            .send()
            .await
            .map_err(|e| api_error("listing the pull request's comments", e))?;
        let comments = self
            .client
            .all_pages(first)
            .await
            .map_err(|e| api_error("listing the pull request's comments", e))?;
        let ours = comments
            .iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        match ours {
            Some(comment) if comment.body.as_deref() == Some(body) => {
                Ok(CommentOutcome::Unchanged(comment.id.into_inner()))
            }
            Some(comment) => {
                let id: CommentId = comment.id;
                issues
                    .update_comment(id, body)
                    .await
                    .map_err(|e| api_error("updating the comment", e))?;
                Ok(CommentOutcome::Updated(id.into_inner()))
            }
            None => {
                let created = issues
                    .create_comment(number, body)
                    .await
                    .map_err(|e| api_error("creating the comment", e))?;
                Ok(CommentOutcome::Created(created.id.into_inner()))
            }
        }
    }
}
