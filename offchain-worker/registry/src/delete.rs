//! Deleting manifests and blobs, for a directory's retention.

use crate::{
	Registry, RegistryError, MAX_BODY,
};
use hyper::{
	body::Bytes,
	Method, StatusCode,
};
use modicum_common::digest::digest_string;
use pallet_market::Digest;

/// What a `DELETE` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
	/// The registry deleted it.
	Deleted,
	/// It was not there (deleted before, or never pushed): nothing left to do.
	Absent,
	/// The registry refuses deletes (`405`): its config lacks `storage: delete: enabled: true`,
	/// or it is read-only for maintenance.
	Disabled,
}

/// Deletion, for a directory's retention (`directory`). The registry only unlinks what is
/// deleted; its own garbage collection (`registry garbage-collect`) reclaims the disk.
impl Registry {
	/// Deletes the manifest `repository@digest` and the tags naming it. Its layers stay: other
	/// images share them.
	pub async fn delete_manifest(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Deletion, RegistryError> {
		self.delete(&format!("/v2/{repository}/manifests/{}", digest_string(digest))).await
	}

	/// Unlinks a blob from `repository`; other repositories linking it keep it.
	pub async fn delete_blob(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Deletion, RegistryError> {
		self.delete(&format!("/v2/{repository}/blobs/{}", digest_string(digest))).await
	}

	/// The size of a blob of `repository`, `None` if it has none.
	pub async fn blob_size(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Option<u64>, RegistryError> {
		let path = format!("/v2/{repository}/blobs/{}", digest_string(digest));
		let response = self.send(Method::HEAD, &path, &[], Bytes::new()).await?;
		match response.status() {
			StatusCode::OK => response
				.headers()
				.get(hyper::header::CONTENT_LENGTH)
				.and_then(|length| length.to_str().ok()?.parse().ok())
				.map(Some)
				.ok_or_else(|| RegistryError::Invalid(format!("HEAD {path} without a length"))),
			StatusCode::NOT_FOUND => Ok(None),
			other => Err(self.unavailable(format!("HEAD {path} answered {other}"))),
		}
	}

	pub(crate) async fn delete(&self, path: &str) -> Result<Deletion, RegistryError> {
		let (status, _) = self.request(Method::DELETE, path, &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(Deletion::Deleted),
			StatusCode::NOT_FOUND => Ok(Deletion::Absent),
			StatusCode::METHOD_NOT_ALLOWED => Ok(Deletion::Disabled),
			other if other.is_server_error() => {
				Err(self.unavailable(format!("DELETE {path} answered {other}")))
			}
			other => Err(RegistryError::Invalid(format!("DELETE {path} answered {other}"))),
		}
	}
}

