//! The registry's own answer about an image: the manifest and its `Docker-Content-Digest`,
//! read over the registry HTTP API (ECR and any distribution registry speak it), so the
//! digest kedro-sfn deploys is the one the registry serves, not one a builder computed.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::reference::is_sha256_digest;

/// Every manifest type Lambda can run, for the Accept header.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Basic credentials for a registry (ECR: user `AWS` and the authorization token).
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.username)
    }
}

impl Credentials {
    /// `user:password` in base64, as registries and `auth.json` files take it.
    pub fn basic(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }
}

/// A manifest as the registry serves it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The registry's `Docker-Content-Digest` (or, when it sends none, sha256 of the bytes).
    pub digest: String,
}

/// Why the registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry at {url}: {message}; check the address and your network")]
    Unreachable { url: String, message: String },
    #[error("the registry refused {url} with HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("the registry sent a malformed digest {0:?}")]
    BadDigest(String),
}

/// Loopback registries (tests, local emulators) speak plain HTTP; every other one HTTPS.
pub fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn base_url(registry: &str) -> String {
    let scheme = if is_loopback(registry) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{registry}")
}

/// Reads the manifest `reference` (a tag or a digest) of `repository`.
pub async fn manifest(
    registry: &str,
    repository: &str,
    reference: &str,
    credentials: Option<&Credentials>,
) -> Result<Manifest, RegistryError> {
    let url = format!(
        "{}/v2/{repository}/manifests/{reference}",
        base_url(registry)
    );
    crate::init_tls();
    let client = reqwest::Client::new();
    let mut request = client.get(&url).header("Accept", MANIFEST_TYPES);
    if let Some(credentials) = credentials {
        request = request.header("Authorization", format!("Basic {}", credentials.basic()));
    }
    let response = request
        .send()
        .await
        .map_err(|e| RegistryError::Unreachable {
            url: url.clone(),
            message: crate::error_chain(&e),
        })?;
    let status = response.status().as_u16();
    if status != 200 {
        let hint = match status {
            401 | 403 => ": the credentials were not accepted",
            404 => ": no such image (was it pushed?)",
            _ => "",
        };
        return Err(RegistryError::Status { url, status, hint });
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let served_digest = header("Docker-Content-Digest");
    let media_type = header("Content-Type").unwrap_or_default();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| RegistryError::Unreachable {
            url: url.clone(),
            message: crate::error_chain(&e),
        })?
        .to_vec();
    let digest = match served_digest {
        Some(digest) if is_sha256_digest(&digest) => digest,
        Some(other) => return Err(RegistryError::BadDigest(other)),
        None => format!("sha256:{:x}", Sha256::digest(&bytes)),
    };
    Ok(Manifest {
        bytes,
        media_type,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert_eq!(base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(
            base_url("1.dkr.ecr.eu-west-1.amazonaws.com"),
            "https://1.dkr.ecr.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: "AWS".into(),
            password: "secret-token".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.basic(), "QVdTOnNlY3JldC10b2tlbg==");
    }
}
