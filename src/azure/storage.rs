//! Blob storage, read-only: list a container's blobs by prefix (every page) and download a blob, for the flow logs'
//! `PT1H.json`s. Built on the maintained Azure SDK crate (`azure_storage_blob`), with the operator's own parts
//! plugged in: its HTTP client (timeouts, same-origin redirects, any extra CA: [`super::boundary`]) as the SDK's
//! transport, and its credentials ([`super::credential`]) for the storage audience as the SDK's token source.
//!
//! A blob endpoint comes from ARM (the storage account's `primaryEndpoints.blob`); the bearer token goes to it only
//! when it is https and either a blob endpoint of the cloud (`https://{account}.blob.core.windows.net/`,
//! `.blob.core.usgovcloudapi.net`, `.blob.core.chinacloudapi.cn`) or on the origin configured for another Blob
//! service (`--storage-origin`: Azure Stack Hub, Azurite). Anything else is [`ArmError::UrlRefused`].

use std::sync::Arc;
use std::time::Instant;

use azure_core::credentials::{AccessToken as SdkToken, TokenCredential as SdkCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use futures::TryStreamExt as _;
use url::Url;

use super::cloud::Cloud;
use super::credential::TokenCredential;
use super::error::{ArmError, shown_url};

pub use super::cloud::STORAGE_SCOPE;

/// A listed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobEntry {
    pub name: String,
    /// RFC 1123, as storage answers it (e.g. `Wed, 02 Dec 2026 09:20:30 GMT`).
    pub last_modified: Option<String>,
    /// The same time, as Unix seconds.
    pub modified: Option<i64>,
    pub size: Option<u64>,
}

/// Reads blobs with the operator's HTTP client and a credential for [`STORAGE_SCOPE`].
#[derive(Clone, Debug)]
pub struct BlobReader {
    http: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    /// `.blob.core.windows.net` and its kin; none for a custom cloud.
    suffix: Option<&'static str>,
    /// Another Blob service's origin the token may go to.
    origin: Option<Url>,
}

impl BlobReader {
    /// `credential` must be built for [`STORAGE_SCOPE`] (see [`Cloud::for_storage`]).
    pub fn new(
        http: reqwest::Client,
        credential: Arc<dyn TokenCredential>,
        cloud: &Cloud,
        origin: Option<Url>,
    ) -> Self {
        let suffix = match cloud.name.as_str() {
            "AzurePublic" => Some(".blob.core.windows.net"),
            "AzureUSGovernment" => Some(".blob.core.usgovcloudapi.net"),
            "AzureChina" => Some(".blob.core.chinacloudapi.cn"),
            _ => None,
        };
        BlobReader { http, credential, suffix, origin }
    }

    /// The blob endpoint of the storage account `account`, built from its name without asking ARM: the cloud's
    /// (`https://{account}.blob.core.windows.net/`), or path-style on `--storage-origin` (`{origin}/{account}/`, as
    /// Azure Stack Hub's and Azurite's are) when one is set. Accounts on an Azure DNS zone endpoint
    /// (`{account}.z01.blob.storage.azure.net`) are not reached this way.
    pub fn account_endpoint(&self, account: &str) -> Result<Url, ArmError> {
        let valid =
            (3..=24).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(ArmError::Config(format!("{account:?} is not a storage account name")));
        }
        let endpoint = match (&self.origin, self.suffix) {
            (Some(origin), _) => format!("{}/{account}/", origin.as_str().trim_end_matches('/')),
            (None, Some(suffix)) => format!("https://{account}{suffix}/"),
            (None, None) => {
                return Err(ArmError::Config("no blob endpoint for a custom cloud: set --storage-origin".into()));
            }
        };
        self.endpoint(&endpoint)
    }

    /// `endpoint` (a storage account's `primaryEndpoints.blob`) as a URL the token may go to.
    pub fn endpoint(&self, endpoint: &str) -> Result<Url, ArmError> {
        allowed_endpoint(endpoint, self.suffix, self.origin.as_ref())
    }

    fn container(&self, endpoint: &Url, container: &str) -> Result<BlobContainerClient, ArmError> {
        let url = endpoint.join(container).map_err(|e| ArmError::Config(format!("container URL: {e}")))?;
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(self.http.clone()))),
                // A few quick retries of what may be transient; the SDK's default (8 retries, a minute) would keep a
                // command waiting on a certificate it does not trust.
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: azure_core::time::Duration::milliseconds(200),
                    max_retries: 3,
                    max_total_elapsed: azure_core::time::Duration::seconds(10),
                    max_delay: azure_core::time::Duration::seconds(2),
                }),
                ..ClientOptions::default()
            },
            ..BlobContainerClientOptions::default()
        };
        let credential: Arc<dyn SdkCredential> = Arc::new(Adapter(self.credential.clone()));
        BlobContainerClient::new(url, Some(credential), Some(options)).map_err(storage_error)
    }

    /// Every blob of `container` whose name starts with `prefix`, following `NextMarker` to the last page.
    pub async fn list(&self, endpoint: &Url, container: &str, prefix: &str) -> Result<Vec<BlobEntry>, ArmError> {
        self.list_paced(endpoint, container, prefix, || async {}).await
    }

    /// [`BlobReader::list`], awaiting `pace` before each page is asked for (a budget of data-plane requests).
    pub async fn list_paced<F, Fut>(
        &self,
        endpoint: &Url,
        container: &str,
        prefix: &str,
        mut pace: F,
    ) -> Result<Vec<BlobEntry>, ArmError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let client = self.container(endpoint, container)?;
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
            ..Default::default()
        };
        let mut pages = client.list_blobs(Some(options)).map_err(storage_error)?.into_pages();
        let mut out = Vec::new();
        loop {
            pace().await;
            let Some(page) = pages.try_next().await.map_err(storage_error)? else { break };
            let page = page.into_model().map_err(storage_error)?;
            let last = page.next_marker.as_deref().is_none_or(str::is_empty);
            for item in page.blob_items {
                let Some(name) = item.name else { continue };
                let properties = item.properties;
                let modified = properties.as_ref().and_then(|p| p.last_modified);
                out.push(BlobEntry {
                    name,
                    last_modified: modified.map(|t| t.to_string()),
                    modified: modified.map(|t| t.unix_timestamp()),
                    size: properties.as_ref().and_then(|p| p.content_length),
                });
            }
            if last {
                break;
            }
        }
        Ok(out)
    }

    /// A blob's content.
    pub async fn get(&self, endpoint: &Url, container: &str, name: &str) -> Result<Vec<u8>, ArmError> {
        let client = self.container(endpoint, container)?.blob_client(name);
        let download = client.download(None).await.map_err(storage_error)?;
        let bytes = download.body.collect().await.map_err(storage_error)?;
        Ok(bytes.to_vec())
    }
}

/// See [`BlobReader::endpoint`].
pub fn allowed_endpoint(endpoint: &str, suffix: Option<&str>, origin: Option<&Url>) -> Result<Url, ArmError> {
    let refused = |url: &str| ArmError::UrlRefused {
        what: "blob endpoint".into(),
        url: super::error::shown_url_text(url),
        allowed: match (suffix, origin) {
            (Some(s), Some(o)) => format!("https://*{s}/ or {}", shown_url(o)),
            (Some(s), None) => format!("https://*{s}/ (--storage-origin for another Blob service)"),
            (None, Some(o)) => shown_url(o),
            (None, None) => "nothing: set --storage-origin for a custom cloud".into(),
        },
    };
    let mut url = Url::parse(endpoint).map_err(|_| refused(endpoint))?;
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return Err(refused(endpoint));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let by_suffix = suffix.is_some_and(|s| host.ends_with(s) && host.len() > s.len() && url.port().is_none());
    let by_origin = origin.is_some_and(|o| o.origin() == url.origin());
    if !by_suffix && !by_origin {
        return Err(refused(endpoint));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// A storage failure as the operator's error: storage's status and error code when it answered, else a transport
/// error.
fn storage_error(e: azure_core::Error) -> ArmError {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { status, error_code, .. } => ArmError::Api {
            status: u16::from(*status),
            code: error_code.clone().unwrap_or_else(|| "StorageError".into()),
            message: format!("storage: {}", first_line(&e.to_string())),
            request_id: None,
            retry_after: None,
        },
        _ => ArmError::Transport(format!("storage: {}", chain(&e))),
    }
}

/// An error and its causes, `: `-separated (a TLS failure under "retry policy expired").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = first_line(&e.to_string()).to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = first_line(&cause.to_string()).to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        source = cause.source();
    }
    text
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The operator's credential as the SDK's token source. It was built for [`STORAGE_SCOPE`]; the SDK asks for
/// nothing else.
#[derive(Debug)]
struct Adapter(Arc<dyn TokenCredential>);

#[async_trait::async_trait]
impl SdkCredential for Adapter {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<SdkToken> {
        let token = self.0.token().await.map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, format!("storage token: {e}"))
        })?;
        let left = token.expires_at.saturating_duration_since(Instant::now());
        let expires_on = azure_core::time::OffsetDateTime::now_utc()
            + azure_core::time::Duration::seconds(i64::try_from(left.as_secs()).unwrap_or(i64::MAX / 2));
        Ok(SdkToken::new(token.token.expose().to_string(), expires_on))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_the_clouds_blob_endpoints_or_the_configured_origin() {
        let public = Some(".blob.core.windows.net");
        let ok = allowed_endpoint("https://flowlogs1.blob.core.windows.net/", public, None).unwrap();
        assert_eq!(ok.as_str(), "https://flowlogs1.blob.core.windows.net/");
        for refused in [
            "http://flowlogs1.blob.core.windows.net/",
            "https://flowlogs1.blob.core.windows.net.evil.example/",
            "https://blob.core.windows.net/",
            "https://.blob.core.windows.net/",
            "https://user:pw@flowlogs1.blob.core.windows.net/",
            "https://flowlogs1.blob.core.windows.net:8443/",
            "https://127.0.0.1:10000/flowlogs1/",
            "not a url",
        ] {
            let err = allowed_endpoint(refused, public, None).unwrap_err().to_string();
            assert!(err.contains("blob endpoint"), "{refused}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
        let azurite = Url::parse("https://127.0.0.1:10000/").unwrap();
        let ok = allowed_endpoint("https://127.0.0.1:10000/flowlogs1", None, Some(&azurite)).unwrap();
        assert_eq!(ok.as_str(), "https://127.0.0.1:10000/flowlogs1/");
        assert!(allowed_endpoint("https://127.0.0.1:10001/flowlogs1/", None, Some(&azurite)).is_err());
        assert!(allowed_endpoint("https://flowlogs1.blob.core.windows.net/", None, None).is_err());
    }
}
