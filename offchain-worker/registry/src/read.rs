//! Reading images and results: manifests, configs and blobs, each checked against its digest.

use crate::{
	ImageConfig, Manifest, Registry, RegistryError, MAX_BODY,
	REQUEST_TIMEOUT,
};
use http_body_util::BodyExt;
use hyper::{
	body::Bytes,
	Method, StatusCode,
};
use modicum_common::digest::{digest_string, sha256};
use pallet_market::Digest;
use sha2::{Digest as _, Sha256};

impl Registry {
	/// Whether the registry answers its API root.
	pub async fn ping(&self) -> Result<(), RegistryError> {
		let (status, _) = self.request(Method::GET, "/v2/", &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::OK => Ok(()),
			other => Err(self.unavailable(format!("`/v2/` answered {other}"))),
		}
	}

	/// The manifest of `repository@digest`, checked against its digest; one of more than
	/// `max_bytes` is `TooLarge`.
	pub async fn manifest(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: usize,
	) -> Result<Manifest, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/manifests/{reference}");
		let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
		let body = self
			.get(&path, &[("accept", accept)], &format!("{repository}@{reference}"), max_bytes)
			.await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Corrupt(format!("the manifest {repository}@{reference}")));
		}
		serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("manifest of {repository}: {e}")))
	}

	/// The config blob a manifest names; one of more than `max_bytes` is `TooLarge`.
	pub async fn image_config(
		&self,
		repository: &str,
		manifest: &Manifest,
		max_bytes: usize,
	) -> Result<ImageConfig, RegistryError> {
		Ok(self.image_config_blob(repository, manifest, max_bytes).await?.0)
	}

	/// The config blob a manifest names, read and as served.
	pub async fn image_config_blob(
		&self,
		repository: &str,
		manifest: &Manifest,
		max_bytes: usize,
	) -> Result<(ImageConfig, Vec<u8>), RegistryError> {
		let digest: modicum_common::digest::Sha256 =
			manifest.config.digest.parse().map_err(RegistryError::Invalid)?;
		let body = self.blob(repository, &digest.0, max_bytes).await?;
		let config = serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("image config of {repository}: {e}")))?;
		Ok((config, body))
	}

	/// A blob of `repository` of at most `max_bytes`, checked against its digest.
	pub async fn blob(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: usize,
	) -> Result<Vec<u8>, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/blobs/{reference}");
		let body = self.get(&path, &[], &format!("blob {reference}"), max_bytes).await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Corrupt(format!("blob {reference}")));
		}
		Ok(body.to_vec())
	}

	/// Whether `repository` holds the blob.
	pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
		let path = format!("/v2/{repository}/blobs/{}", digest_string(digest));
		let (status, _) = self.request(Method::HEAD, &path, &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::OK => Ok(true),
			StatusCode::NOT_FOUND => Ok(false),
			other => Err(self.unavailable(format!("HEAD {path} answered {other}"))),
		}
	}

	/// Streams a blob of `repository` into `sink` chunk by chunk, checking its digest; a blob
	/// longer than `max_bytes` is `TooLarge`. Each chunk must come within the request timeout.
	pub async fn stream_blob(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: u64,
		mut sink: impl FnMut(&[u8]) -> Result<(), RegistryError>,
	) -> Result<(), RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/blobs/{reference}");
		let response = self.send(Method::GET, &path, &[], Bytes::new()).await?;
		match response.status() {
			StatusCode::OK => {}
			StatusCode::NOT_FOUND => return Err(RegistryError::NotFound(format!("blob {reference}"))),
			other => return Err(self.unavailable(format!("GET {path} answered {other}"))),
		}
		let mut body = response.into_body();
		let (mut hash, mut read) = (Sha256::new(), 0u64);
		loop {
			let frame = tokio::time::timeout(REQUEST_TIMEOUT, body.frame())
				.await
				.map_err(|_| self.unavailable(format!("blob {reference} stalled")))?;
			let Some(frame) = frame else { break };
			let frame = frame.map_err(|e| self.unavailable(e.to_string()))?;
			let Ok(chunk) = frame.into_data() else { continue };
			read += chunk.len() as u64;
			if read > max_bytes {
				return Err(RegistryError::TooLarge { what: format!("blob {reference}"), limit: max_bytes });
			}
			hash.update(&chunk);
			sink(&chunk)?;
		}
		if <[u8; 32]>::from(hash.finalize()) != *digest {
			return Err(RegistryError::Corrupt(format!("blob {reference}")));
		}
		Ok(())
	}
}
