//! From a granted URL and a connector's options to an `object_store` store confined to that
//! location: local folders, S3 and S3-compatible servers, HDFS, and GCS and Azure when built
//! with their features.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use crate::StorePolicy;

/// A store confined to the granted location.
pub(crate) struct Location {
    /// Paths are relative to the location.
    pub store: Arc<dyn ObjectStore>,
    /// The folder on this machine, for a local location: uploads there go to a hidden
    /// temporary file renamed into place.
    pub local_root: Option<PathBuf>,
}

/// The options a connector may pass (`s3.endpoint` and `aws.profile` only as the worker's
/// [`StorePolicy`] allows).
pub(crate) const OPTIONS: &[&str] = &[
    "s3.region",
    "s3.endpoint",
    "s3.path.style.access.enabled",
    "aws.access.key.id",
    "aws.secret.access.key",
    "aws.session.token",
    "aws.profile",
];

/// What a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A folder on this machine (absolute).
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 { bucket: String, prefix: String },
    /// `hdfs://namenode:port/path`: the client URL (`hdfs://namenode:port`) and the path.
    Hdfs { namenode: String, prefix: String },
    /// `gs://bucket/prefix`.
    Gcs { bucket: String, prefix: String },
    /// `az://container/prefix`.
    Azure { container: String, prefix: String },
}

/// Reads a location URL: an absolute path or `file:///path`, `s3://`, `hdfs://` (or
/// `viewfs://`), `gs://`, `az://`/`abfs://`.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    if url.starts_with('/') {
        return Ok(Target::Local(PathBuf::from(url)));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not a location: use an absolute path, file:///path, s3://bucket/prefix, hdfs://namenode:port/path, gs://bucket/prefix or az://container/prefix"
        ));
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = path.trim_matches('/').to_string();
    let need_authority = |what: &str| {
        if authority.is_empty() {
            Err(format!("{url:?} names no {what}"))
        } else {
            Ok(authority.to_string())
        }
    };
    match scheme {
        "file" => {
            if !authority.is_empty() && authority != "localhost" {
                return Err(format!(
                    "{url:?}: a file URL names a folder on this machine (file:///path)"
                ));
            }
            Ok(Target::Local(PathBuf::from(format!("/{path}"))))
        }
        "s3" | "s3a" => Ok(Target::S3 {
            bucket: need_authority("bucket")?,
            prefix,
        }),
        "hdfs" | "viewfs" => Ok(Target::Hdfs {
            namenode: format!("{scheme}://{}", need_authority("NameNode")?),
            prefix,
        }),
        "gs" => Ok(Target::Gcs {
            bucket: need_authority("bucket")?,
            prefix,
        }),
        "az" | "abfs" | "abfss" => Ok(Target::Azure {
            container: need_authority("container")?,
            prefix,
        }),
        other => Err(format!(
            "{url:?}: unknown scheme {other:?}: use file, s3, hdfs, gs or az"
        )),
    }
}

/// Timeouts and retries: a store that does not answer is reported within seconds, not after
/// object_store's default three minutes of retries.
fn client_options(allow_http: bool) -> (ClientOptions, RetryConfig) {
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60));
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    };
    (client, retry)
}

/// Checks the option keys (the known ones), and that the endpoint and profile they name are
/// ones the worker allows.
fn check_options(options: &HashMap<String, String>, policy: &StorePolicy) -> Result<(), String> {
    for (key, value) in options {
        if key.starts_with("hdfs.") {
            return Err(format!(
                "store option {key:?}: Hadoop settings are the worker's: set them in worker.toml [worker.store_hdfs_settings]"
            ));
        }
        if !OPTIONS.contains(&key.as_str()) {
            return Err(format!(
                "unknown store option {key:?}: expected one of {}",
                OPTIONS.join(", ")
            ));
        }
        let allowed = match key.as_str() {
            "s3.endpoint" => Some((&policy.s3_endpoints, "store_s3_endpoints")),
            "aws.profile" => Some((&policy.aws_profiles, "store_aws_profiles")),
            _ => None,
        };
        if let Some((list, worker_key)) = allowed {
            let same = |a: &str| a.trim_end_matches('/') == value.trim_end_matches('/');
            if !list.iter().any(|a| same(a)) {
                return Err(format!(
                    "{key} {value:?} is not one the worker allows: add it to worker.toml [worker] {worker_key}"
                ));
            }
        }
    }
    Ok(())
}

/// The worker's Hadoop client settings, over defaults that report a NameNode that does not
/// answer within seconds rather than after hdfs-native's 15 failovers of up to 15 s each.
pub(crate) fn hadoop_config(
    settings: &std::collections::BTreeMap<String, String>,
) -> HashMap<String, String> {
    let mut config: HashMap<String, String> = [
        ("dfs.client.failover.max.attempts", "2"),
        ("dfs.client.failover.sleep.max.millis", "2000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config.extend(settings.iter().map(|(k, v)| (k.clone(), v.clone())));
    config
}

/// Opens the store `url` names, with `options`, as the worker's `policy` allows.
pub(crate) fn open(
    url: &str,
    options: &HashMap<String, String>,
    policy: &StorePolicy,
) -> Result<Location, String> {
    let target = parse(url)?;
    check_options(options, policy)?;
    let (store, prefix): (Arc<dyn ObjectStore>, String) = match target {
        Target::Local(root) => {
            std::fs::create_dir_all(&root)
                .map_err(|e| format!("creating the folder {}: {e}", root.display()))?;
            let store = LocalFileSystem::new_with_prefix(&root)
                .map_err(|e| format!("{}: {e}", root.display()))?;
            return Ok(Location {
                store: Arc::new(store),
                local_root: Some(root),
            });
        }
        Target::S3 { bucket, prefix } => (Arc::new(s3(&bucket, options)?), prefix),
        Target::Hdfs { namenode, prefix } => {
            let store = hdfs_native_object_store::HdfsObjectStoreBuilder::new()
                .with_url(namenode.clone())
                .with_config(hadoop_config(&policy.hdfs_settings))
                .build()
                .map_err(|e| format!("HDFS at {namenode}: {e}"))?;
            (Arc::new(store), prefix)
        }
        #[cfg(feature = "gcs")]
        Target::Gcs { bucket, prefix } => {
            let (client, retry) = client_options(false);
            let store = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client)
                .with_retry(retry);
            (Arc::new(store.build().map_err(|e| e.to_string())?), prefix)
        }
        #[cfg(feature = "azure")]
        Target::Azure { container, prefix } => {
            let (client, retry) = client_options(false);
            let store = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_client_options(client)
                .with_retry(retry);
            (Arc::new(store.build().map_err(|e| e.to_string())?), prefix)
        }
        #[allow(unreachable_patterns)]
        Target::Gcs { .. } | Target::Azure { .. } => {
            return Err(format!(
                "{url}: this connectd was built without GCS and Azure support (cargo build --features connectd-host/gcs or connectd-host/azure)"
            ));
        }
    };
    // Every path the guest names lies under the URL's prefix.
    let store = if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Ok(Location {
        store,
        local_root: None,
    })
}

/// An S3 client: credentials from the options, else the usual `AWS_*` environment, else the
/// profile (`aws.profile`, `AWS_PROFILE` or `default`) in `~/.aws/credentials`.
fn s3(
    bucket: &str,
    options: &HashMap<String, String>,
) -> Result<object_store::aws::AmazonS3, String> {
    let option = |k: &str| options.get(k).map(String::as_str);
    let endpoint = option("s3.endpoint");
    let (client, retry) = client_options(endpoint.is_some_and(|e| e.starts_with("http://")));
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let has_env_keys = std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
    if let Some(id) = option("aws.access.key.id") {
        builder = builder.with_access_key_id(id);
        builder = builder.with_secret_access_key(option("aws.secret.access.key").unwrap_or(""));
        if let Some(token) = option("aws.session.token") {
            builder = builder.with_token(token);
        }
    } else if !has_env_keys {
        let profile = option("aws.profile")
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .unwrap_or_else(|| "default".into());
        if let Some(keys) = profile_keys(&profile) {
            builder = builder
                .with_access_key_id(keys.id)
                .with_secret_access_key(keys.secret);
            if let Some(token) = keys.token {
                builder = builder.with_token(token);
            }
        }
    }
    let region = option("s3.region")
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    builder = builder.with_region(region);
    if let Some(endpoint) = endpoint {
        let (scheme, host) = endpoint.split_once("://").unwrap_or_default();
        if !matches!(scheme, "http" | "https") || host.is_empty() {
            return Err(format!(
                "s3.endpoint {endpoint:?} is not a URL: expected http://host:port or https://host"
            ));
        }
        builder = builder.with_endpoint(endpoint);
    }
    let path_style = option("s3.path.style.access.enabled").unwrap_or("true");
    let path_style: bool = path_style.parse().map_err(|_| {
        format!("s3.path.style.access.enabled is {path_style:?}: expected true or false")
    })?;
    builder
        .with_virtual_hosted_style_request(!path_style)
        .with_client_options(client)
        .with_retry(retry)
        .build()
        .map_err(|e| e.to_string())
}

/// A profile's keys from the shared credentials file.
struct ProfileKeys {
    id: String,
    secret: String,
    token: Option<String>,
}

fn profile_keys(profile: &str) -> Option<ProfileKeys> {
    let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    parse_profile(&std::fs::read_to_string(file).ok()?, profile)
}

/// The keys of `[profile]` in an AWS credentials file (INI).
fn parse_profile(text: &str, profile: &str) -> Option<ProfileKeys> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
        } else if in_profile && let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string());
            match k.trim() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(ProfileKeys {
        id: id?,
        secret: secret?,
        token,
    })
}

/// `path` (relative to the location) as an object path: plain segments, no `..`.
pub(crate) fn object_path(path: &str) -> Result<Path, String> {
    if path.is_empty() || path.starts_with('/') {
        return Err(format!(
            "{path:?}: object paths are relative to the granted location"
        ));
    }
    Path::parse(path).map_err(|e| format!("{path:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_store_bucket_and_prefix() {
        assert_eq!(
            parse("/var/lake").unwrap(),
            Target::Local("/var/lake".into())
        );
        assert_eq!(
            parse("file:///var/lake/").unwrap(),
            Target::Local("/var/lake/".into())
        );
        assert_eq!(
            parse("s3://bucket/a/b/").unwrap(),
            Target::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse("s3://bucket").unwrap(),
            Target::S3 {
                bucket: "bucket".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            parse("hdfs://namenode:8020/user/lake").unwrap(),
            Target::Hdfs {
                namenode: "hdfs://namenode:8020".into(),
                prefix: "user/lake".into()
            }
        );
        assert_eq!(
            parse("hdfs://ns1/lake").unwrap(),
            Target::Hdfs {
                namenode: "hdfs://ns1".into(),
                prefix: "lake".into()
            }
        );
        for (bad, says) in [
            ("lake", "not a location"),
            ("s3:///x", "names no bucket"),
            ("hdfs:///x", "names no NameNode"),
            ("ftp://h/x", "unknown scheme"),
            ("file://otherhost/x", "this machine"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn options_are_checked_and_endpoints_profiles_and_hadoop_settings_are_the_workers() {
        let map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let policy = StorePolicy {
            s3_endpoints: vec!["http://127.0.0.1:9000/".into()],
            aws_profiles: vec!["lake".into()],
            hdfs_settings: [("dfs.ha.namenodes.ns1".to_string(), "nn1,nn2".to_string())].into(),
        };
        let allowed = map(&[
            ("s3.region", "x"),
            ("s3.endpoint", "http://127.0.0.1:9000"),
            ("aws.profile", "lake"),
        ]);
        check_options(&allowed, &policy).unwrap();
        for (key, value, says) in [
            (
                "s3.endpoint",
                "http://attacker.example",
                "store_s3_endpoints",
            ),
            ("aws.profile", "admin", "store_aws_profiles"),
            (
                "hdfs.dfs.namenode.rpc-address.ns1.nn1",
                "attacker:8020",
                "store_hdfs_settings",
            ),
            ("s3.regoin", "x", "s3.region"),
        ] {
            let err = check_options(&map(&[(key, value)]), &policy).unwrap_err();
            assert!(err.contains(key) && err.contains(says), "{key}: {err}");
        }
        // Nothing allowed by default.
        let err = check_options(
            &map(&[("s3.endpoint", "http://127.0.0.1:9000")]),
            &StorePolicy::default(),
        );
        assert!(err.is_err());
        // The worker's Hadoop settings, over the short failover defaults.
        let config = hadoop_config(&policy.hdfs_settings);
        assert_eq!(config["dfs.ha.namenodes.ns1"], "nn1,nn2");
        assert_eq!(config["dfs.client.failover.max.attempts"], "2");
        let own = [(
            "dfs.client.failover.max.attempts".to_string(),
            "9".to_string(),
        )]
        .into();
        assert_eq!(hadoop_config(&own)["dfs.client.failover.max.attempts"], "9");
    }

    #[test]
    fn object_paths_stay_inside_the_location() {
        assert_eq!(
            object_path("topics/t/partition=0/t+0+00000000000000000000.parquet")
                .unwrap()
                .as_ref(),
            "topics/t/partition=0/t+0+00000000000000000000.parquet"
        );
        for bad in ["", "/etc/passwd", "a/../../b", "a//b", "./a"] {
            assert!(object_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_endpoint_that_is_not_a_url_is_refused() {
        for bad in ["", "127.0.0.1:9000", "ftp://x"] {
            let options: HashMap<String, String> =
                [("s3.endpoint".to_string(), bad.to_string())].into();
            let policy = StorePolicy {
                s3_endpoints: vec![bad.to_string()],
                ..StorePolicy::default()
            };
            let err = open("s3://b/p", &options, &policy).err().unwrap();
            assert!(err.contains("s3.endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn profiles_are_read_from_the_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[other]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=E\n";
        let d = parse_profile(text, "default").unwrap();
        assert_eq!(
            (d.id.as_str(), d.secret.as_str(), d.token),
            ("A", "B", None)
        );
        let o = parse_profile(text, "other").unwrap();
        assert_eq!(o.token.as_deref(), Some("E"));
        assert!(parse_profile(text, "missing").is_none());
    }

    #[test]
    fn an_hdfs_location_parses_its_settings_and_reports_a_namenode_that_is_not_there() {
        // A port nothing listens on: building the client is lazy, the first call fails.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let policy = StorePolicy {
            hdfs_settings: [(
                "dfs.client.use.datanode.hostname".to_string(),
                "true".to_string(),
            )]
            .into(),
            ..StorePolicy::default()
        };
        let location = open(
            &format!("hdfs://127.0.0.1:{port}/lake"),
            &HashMap::new(),
            &policy,
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listed = runtime.block_on(location.store.list_with_delimiter(None));
        let err = super::super::classify(listed.unwrap_err());
        assert!(
            matches!(
                err,
                crate::bindings::sink::connectd::connector::object_store::StoreError::Unreachable(
                    _
                )
            ),
            "{err:?}"
        );
    }
}
