//! ECR: the repository (created when missing: scan on push, immutable tags), the registry
//! login (GetAuthorizationToken), and what ECR knows about an image tag.

use std::collections::BTreeMap;

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability, Tag};
use aws_sdk_ecr::Client;
use base64::Engine;

use super::AwsError;
use crate::image::registry::Credentials;

/// An ECR repository, as pushes and functions address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/name`.
    pub uri: String,
    /// True when this call created it.
    pub created: bool,
}

impl Repository {
    /// The registry host of the repository URI.
    pub fn registry(&self) -> &str {
        self.uri
            .split_once('/')
            .map_or(self.uri.as_str(), |(host, _)| host)
    }
}

/// The registry login that GetAuthorizationToken gives (valid for 12 hours).
#[derive(Debug, Clone)]
pub struct Login {
    /// The registry host, without scheme.
    pub registry: String,
    pub credentials: Credentials,
}

/// Calls ECR.
#[derive(Debug, Clone)]
pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Ecr {
            client: Client::from_conf(
                aws_sdk_ecr::config::Builder::from(config)
                    .retry_classifier(super::RefusedIsFinal)
                    .build(),
            ),
        }
    }

    /// The repository, created when missing with scan on push and immutable tags (a tag
    /// names one image forever, so a commit's tag never moves under a running function).
    pub async fn ensure_repository(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<Repository, AwsError> {
        match self
            .client
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
        {
            Ok(found) => {
                let repo = found.repositories().first().ok_or_else(|| {
                    AwsError::other(
                        format!("reading the ECR repository {name}"),
                        "ECR returned no repository",
                    )
                })?;
                if repo.image_tag_mutability() != Some(&ImageTagMutability::Immutable) {
                    tracing::warn!(
                        repository = name,
                        "the ECR repository's tags are mutable; kedro-sfn deploys by digest, so functions are safe, but consider immutable tags"
                    );
                }
                return Ok(Repository {
                    name: name.to_string(),
                    uri: repo.repository_uri().unwrap_or_default().to_string(),
                    created: false,
                });
            }
            Err(error) => {
                let error = AwsError::new(format!("reading the ECR repository {name}"), error);
                if error.code.as_deref() != Some("RepositoryNotFoundException") {
                    return Err(error);
                }
            }
        }
        tracing::info!(repository = name, "creating the ECR repository");
        let mut request = self
            .client
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            );
        for (key, value) in tags {
            let tag = Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| AwsError::other("tagging the ECR repository", e.to_string()))?;
            request = request.tags(tag);
        }
        let created = request.send().await.map_err(|e| {
            AwsError::new(
                format!(
                    "creating the ECR repository {name} (the caller needs ecr:CreateRepository)"
                ),
                e,
            )
        })?;
        let uri = created
            .repository()
            .and_then(|r| r.repository_uri())
            .unwrap_or_default()
            .to_string();
        Ok(Repository {
            name: name.to_string(),
            uri,
            created: true,
        })
    }

    /// The registry login: ECR's token is base64 of `AWS:<password>`.
    pub async fn login(&self) -> Result<Login, AwsError> {
        let action = "getting an ECR login (GetAuthorizationToken; the caller needs ecr:GetAuthorizationToken)";
        let answer = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| AwsError::new(action, e))?;
        let data = answer
            .authorization_data()
            .first()
            .ok_or_else(|| AwsError::other(action, "ECR returned no authorization data"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| AwsError::other(action, "ECR returned no token"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| AwsError::other(action, "the token is not base64 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| AwsError::other(action, "the token is not USER:PASSWORD"))?;
        let endpoint = data.proxy_endpoint().unwrap_or_default();
        let registry = endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Ok(Login {
            registry,
            credentials: Credentials {
                username: username.to_string(),
                password: password.to_string(),
            },
        })
    }

    /// The digest ECR holds for `tag`, or `None` when the tag is not there.
    pub async fn digest_of_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, AwsError> {
        let answer = self
            .client
            .describe_images()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match answer {
            Ok(found) => Ok(found
                .image_details()
                .first()
                .and_then(|d| d.image_digest())
                .map(str::to_string)),
            Err(error) => {
                let error = AwsError::new(format!("looking up {repository}:{tag} in ECR"), error);
                match error.code.as_deref() {
                    Some("ImageNotFoundException") => Ok(None),
                    _ => Err(error),
                }
            }
        }
    }

    /// Records a manifest under a tag with PutImage.
    ///
    /// This is the seam for emulators without a registry (moto): the layers were pushed to
    /// another registry (`--registry`), and ECR is told about the image by its manifest and
    /// the digest that registry served, so functions can be created from `repo@digest`.
    /// Against real ECR the push itself records the image and this is never called.
    pub async fn put_image(
        &self,
        repository: &str,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
        digest: &str,
    ) -> Result<(), AwsError> {
        let text = String::from_utf8_lossy(manifest).into_owned();
        self.client
            .put_image()
            .repository_name(repository)
            .image_tag(tag)
            .image_manifest(text)
            .image_manifest_media_type(media_type)
            .image_digest(digest)
            .send()
            .await
            .map_err(|e| {
                AwsError::new(format!("recording {repository}:{tag} in ECR (PutImage)"), e)
            })?;
        Ok(())
    }
}
