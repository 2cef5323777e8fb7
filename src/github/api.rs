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

    /// The pull request's comment that carries `marker` (found across every page): its id
    /// and body.
    pub async fn find_comment(
        &self,
        number: u64,
        marker: &str,
    ) -> Result<Option<(CommentId, String)>, GitHubError> {
        let first = self
            .client
            .issues(&self.owner, &self.repo)
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
        Ok(comments.into_iter().find_map(|c| {
            let body = c.body?;
            body.contains(marker).then_some((c.id, body))
        }))
    }

    /// Creates the pull request's comment that carries `marker`, or updates it in place,
    /// or leaves it alone when `body` is unchanged.
    pub async fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome, GitHubError> {
        let issues = self.client.issues(&self.owner, &self.repo);
        match self.find_comment(number, marker).await? {
            Some((id, current)) if current == body => {
                Ok(CommentOutcome::Unchanged(id.into_inner()))
            }
            Some((id, _)) => {
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

    /// The pull requests a commit belongs to (GitHub's "list pull requests associated with a
    /// commit": the merged one for a push to the default branch), by number.
    pub async fn pulls_for_commit(&self, sha: &str) -> Result<Vec<u64>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Pull {
            number: u64,
        }
        let route = format!("/repos/{}/{}/commits/{sha}/pulls", self.owner, self.repo);
        let pulls: Vec<Pull> = self
            .client
            .get(route, None::<&()>)
            .await
            .map_err(|e| api_error("listing the pull requests of the commit", e))?;
        Ok(pulls.into_iter().map(|p| p.number).collect())
    }
}
