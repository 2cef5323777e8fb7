//! ECR against moto: the repository is created once (immutable tags, scan on push), the
//! login comes from GetAuthorizationToken, and a tag resolves to the digest ECR records.

use crate::support;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecr::config::Credentials;
use kedro_sfn::aws::ecr::Ecr;
use support::moto::MotoServer;

fn sdk(moto: &MotoServer) -> aws_config::SdkConfig {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load(),
    )
}

#[test]
fn repository_login_and_digests() {
    let moto = MotoServer::start();
    let config = sdk(&moto);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ecr = Ecr::new(&config);
    let tags = [("kedro-sfn:managed".to_string(), "true".to_string())].into();

    let first = runtime
        .block_on(ecr.ensure_repository("spaceflights", &tags))
        .expect("created");
    assert!(first.created);
    assert!(
        first.uri.ends_with(".amazonaws.com/spaceflights"),
        "{}",
        first.uri
    );
    assert_eq!(
        first.registry(),
        first.uri.trim_end_matches("/spaceflights")
    );
    let again = runtime
        .block_on(ecr.ensure_repository("spaceflights", &tags))
        .expect("found");
    assert!(!again.created);
    assert_eq!(again.uri, first.uri);

    // What was created, read back with the SDK itself.
    let raw = aws_sdk_ecr::Client::new(&config);
    let described = runtime
        .block_on(
            raw.describe_repositories()
                .repository_names("spaceflights")
                .send(),
        )
        .expect("describe");
    let repo = &described.repositories()[0];
    assert_eq!(
        repo.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    assert_eq!(
        repo.image_scanning_configuration()
            .map(|c| c.scan_on_push()),
        Some(true)
    );

    let login = runtime.block_on(ecr.login()).expect("login");
    assert_eq!(login.credentials.username, "AWS");
    assert!(!login.credentials.password.is_empty());
    assert!(
        login.registry.ends_with(".amazonaws.com"),
        "{}",
        login.registry
    );
    assert!(!login.registry.starts_with("https://"));

    assert_eq!(
        runtime
            .block_on(ecr.digest_of_tag("spaceflights", "abc"))
            .expect("lookup"),
        None
    );
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},"layers":[]}"#;
    let digest = format!("sha256:{}", "ab".repeat(32));
    runtime
        .block_on(ecr.put_image(
            "spaceflights",
            "abc",
            manifest,
            "application/vnd.docker.distribution.manifest.v2+json",
            &digest,
        ))
        .expect("put_image");
    assert_eq!(
        runtime
            .block_on(ecr.digest_of_tag("spaceflights", "abc"))
            .expect("lookup"),
        Some(digest)
    );

    let missing = runtime
        .block_on(ecr.digest_of_tag("no-such-repo", "abc"))
        .unwrap_err();
    assert_eq!(
        missing.code.as_deref(),
        Some("RepositoryNotFoundException"),
        "{missing}"
    );
}
