//! The directory client: a directory's OCI registry (distribution API v2) over HTTP. Images are
//! read by manifest digest; result archives are blobs stored and fetched by their sha256.

use crate::config::digest_string;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, Method, Request, StatusCode};
use hyper_util::{
	client::legacy::{connect::HttpConnector, Client},
	rt::TokioExecutor,
};
use pallet_market::Digest;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

/// Repository result archives are stored under.
pub const RESULTS_REPOSITORY: &str = "modicum/results";

/// The largest answer accepted (a result archive is bounded by the job's storage limit).
const MAX_BODY: usize = 1 << 30;

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
	/// The registry could not be reached or did not answer in time.
	#[error("registry {endpoint} unavailable: {reason}")]
	Unavailable {
		/// Its URL.
		endpoint: String,
		/// The cause.
		reason: String,
	},
	/// The manifest or blob does not exist there.
	#[error("{0} not found in the registry")]
	NotFound(String),
	/// The registry answered something that is not what was asked for.
	#[error("invalid registry answer: {0}")]
	Invalid(String),
	/// The endpoint is not a URL this client speaks.
	#[error("unsupported directory endpoint `{0}`: only http:// registries are supported")]
	Endpoint(String),
}

/// An image manifest (Docker v2 schema 2 or OCI), the fields the market needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
	/// The image config blob.
	pub config: Descriptor,
	/// Compressed layers, base first.
	pub layers: Vec<Descriptor>,
}

/// A blob reference in a manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct Descriptor {
	/// Its size in bytes.
	pub size: u64,
	/// `sha256:<hex>`.
	pub digest: String,
}

/// An image config, the fields the market needs.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageConfig {
	/// OCI architecture name.
	pub architecture: String,
	/// The uncompressed layer digests.
	pub rootfs: RootFs,
}

/// The layers of an image config.
#[derive(Clone, Debug, Deserialize)]
pub struct RootFs {
	/// `sha256:<hex>` of each uncompressed layer, base first.
	pub diff_ids: Vec<String>,
}

/// A client of one directory's registry.
#[derive(Clone)]
pub struct Registry {
	endpoint: String,
	client: Client<HttpConnector, Full<Bytes>>,
}

/// The sha256 of some bytes.
pub fn sha256(bytes: &[u8]) -> Digest {
	Sha256::digest(bytes).into()
}

impl Registry {
	/// A client of the registry at `endpoint` (`http://host:port`).
	pub fn new(endpoint: &str) -> Result<Self, RegistryError> {
		let trimmed = endpoint.trim_end_matches('/');
		let host = trimmed
			.strip_prefix("http://")
			.ok_or_else(|| RegistryError::Endpoint(endpoint.into()))?;
		if host.is_empty() || host.contains('/') {
			return Err(RegistryError::Endpoint(endpoint.into()));
		}
		let client = Client::builder(TokioExecutor::new()).build_http();
		Ok(Self { endpoint: trimmed.into(), client })
	}

	/// `host:port`, as Docker names images of this registry.
	pub fn host(&self) -> &str {
		self.endpoint.trim_start_matches("http://")
	}

	/// Whether the registry answers its API root.
	pub async fn ping(&self) -> Result<(), RegistryError> {
		let (status, _) = self.request(Method::GET, "/v2/", &[], Bytes::new()).await?;
		match status {
			StatusCode::OK => Ok(()),
			other => Err(self.unavailable(format!("`/v2/` answered {other}"))),
		}
	}

	/// The manifest of `repository@digest`, checked against its digest.
	pub async fn manifest(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Manifest, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/manifests/{reference}");
		let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
		let body =
			self.get(&path, &[("accept", accept)], &format!("{repository}@{reference}")).await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Invalid(format!(
				"manifest of {repository} is not {reference}"
			)));
		}
		serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("manifest of {repository}: {e}")))
	}

	/// The config blob a manifest names.
	pub async fn image_config(
		&self,
		repository: &str,
		manifest: &Manifest,
	) -> Result<ImageConfig, RegistryError> {
		let digest: crate::config::Sha256 =
			manifest.config.digest.parse().map_err(RegistryError::Invalid)?;
		let body = self.blob(repository, &digest.0).await?;
		serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("image config of {repository}: {e}")))
	}

	/// A blob of `repository`, checked against its digest.
	pub async fn blob(&self, repository: &str, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/blobs/{reference}");
		let body = self.get(&path, &[], &format!("blob {reference}")).await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Invalid(format!("blob {reference} has another digest")));
		}
		Ok(body.to_vec())
	}

	/// Whether `repository` holds the blob.
	pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
		let path = format!("/v2/{repository}/blobs/{}", digest_string(digest));
		let (status, _) = self.request(Method::HEAD, &path, &[], Bytes::new()).await?;
		match status {
			StatusCode::OK => Ok(true),
			StatusCode::NOT_FOUND => Ok(false),
			other => Err(self.unavailable(format!("HEAD {path} answered {other}"))),
		}
	}

	/// Uploads `bytes` as a blob of `repository` (monolithic upload) and returns its digest.
	pub async fn push_blob(
		&self,
		repository: &str,
		bytes: Vec<u8>,
	) -> Result<Digest, RegistryError> {
		let digest = sha256(&bytes);
		if self.has_blob(repository, &digest).await? {
			return Ok(digest);
		}
		let start = format!("/v2/{repository}/blobs/uploads/");
		let response = self.send(Method::POST, &start, &[], Bytes::new()).await?;
		if response.status() != StatusCode::ACCEPTED {
			return Err(self.unavailable(format!("POST {start} answered {}", response.status())));
		}
		let location = response
			.headers()
			.get("location")
			.and_then(|l| l.to_str().ok())
			.ok_or_else(|| RegistryError::Invalid("upload without a Location".into()))?
			.to_string();
		let location = location.strip_prefix(&self.endpoint).unwrap_or(&location).to_string();
		let separator = if location.contains('?') { '&' } else { '?' };
		let put = format!("{location}{separator}digest={}", digest_string(&digest));
		let (status, _) = self
			.request(
				Method::PUT,
				&put,
				&[("content-type", "application/octet-stream")],
				bytes.into(),
			)
			.await?;
		if status != StatusCode::CREATED {
			return Err(self.unavailable(format!("blob upload answered {status}")));
		}
		Ok(digest)
	}

	async fn get(
		&self,
		path: &str,
		headers: &[(&str, &str)],
		what: &str,
	) -> Result<Bytes, RegistryError> {
		let (status, body) = self.request(Method::GET, path, headers, Bytes::new()).await?;
		match status {
			StatusCode::OK => Ok(body),
			StatusCode::NOT_FOUND => Err(RegistryError::NotFound(what.into())),
			other => Err(self.unavailable(format!("GET {path} answered {other}"))),
		}
	}

	async fn request(
		&self,
		method: Method,
		path: &str,
		headers: &[(&str, &str)],
		body: Bytes,
	) -> Result<(StatusCode, Bytes), RegistryError> {
		let response = self.send(method, path, headers, body).await?;
		let status = response.status();
		let body = tokio::time::timeout(
			REQUEST_TIMEOUT,
			Limited::new(response.into_body(), MAX_BODY).collect(),
		)
		.await
		.map_err(|_| self.unavailable("timed out reading the answer".into()))?
		.map_err(|e| self.unavailable(e.to_string()))?
		.to_bytes();
		Ok((status, body))
	}

	async fn send(
		&self,
		method: Method,
		path: &str,
		headers: &[(&str, &str)],
		body: Bytes,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut request = Request::builder().method(method).uri(format!("{}{path}", self.endpoint));
		for (name, value) in headers {
			request = request.header(*name, *value);
		}
		let request = request
			.body(Full::new(body))
			.map_err(|e| RegistryError::Invalid(format!("request {path}: {e}")))?;
		tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
			.await
			.map_err(|_| self.unavailable("timed out".into()))?
			.map_err(|e| self.unavailable(e.to_string()))
	}

	fn unavailable(&self, reason: String) -> RegistryError {
		RegistryError::Unavailable { endpoint: self.endpoint.clone(), reason }
	}
}
