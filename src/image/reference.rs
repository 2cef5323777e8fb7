//! Image references (`registry/repository:tag`, `registry/repository@sha256:…`): Lambda
//! functions are pointed at digests only, so a moving tag never leaves a function on old code.

use std::fmt;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

/// Why a string is not an image reference kedro-sfn can deploy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error("{0:?} is not an image reference like REGISTRY/REPOSITORY@sha256:DIGEST")]
    Malformed(String),
    #[error("{0:?} names no registry host (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:…)")]
    NoRegistry(String),
    #[error("{0:?} has a malformed digest: expected sha256: and 64 lowercase hex digits")]
    BadDigest(String),
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<Self, RefError> {
        let malformed = || RefError::Malformed(text.to_string());
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(RefError::BadDigest(text.to_string()));
                }
                (name, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (registry, path) = name
            .split_once('/')
            .ok_or_else(|| RefError::NoRegistry(text.to_string()))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(RefError::NoRegistry(text.to_string()));
        }
        // A tag follows the last ':' after the last '/'.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        if repository.is_empty() || tag.as_deref() == Some("") {
            return Err(malformed());
        }
        Ok(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// `registry/repository@digest`, the form every function is deployed with.
    pub fn pinned(&self) -> Option<String> {
        self.digest
            .as_ref()
            .map(|d| format!("{}/{}@{d}", self.registry, self.repository))
    }

    /// The same image at a digest.
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_and_ports() {
        let r = ImageRef::parse("127.0.0.1:5000/team/flights:abc123").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/flights");
        assert_eq!(r.tag.as_deref(), Some("abc123"));
        let pinned = format!("1.dkr.ecr.eu-west-1.amazonaws.com/flights:t@{DIGEST}");
        let r = ImageRef::parse(&pinned).unwrap();
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
        assert_eq!(
            r.pinned().unwrap(),
            format!("1.dkr.ecr.eu-west-1.amazonaws.com/flights@{DIGEST}")
        );
        assert_eq!(r.to_string(), pinned);
    }

    #[test]
    fn refuses_what_cannot_be_deployed() {
        assert!(matches!(
            ImageRef::parse("flights:latest"),
            Err(RefError::NoRegistry(_))
        ));
        assert!(matches!(
            ImageRef::parse("r.example.com/flights@sha256:XYZ"),
            Err(RefError::BadDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse("r.example.com/:t"),
            Err(RefError::Malformed(_))
        ));
    }
}
