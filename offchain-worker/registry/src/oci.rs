//! The OCI image types the market reads: manifests, descriptors, configs.

use serde::Deserialize;

/// Whether `name` is a repository name as distribution reads them: `/`-separated components of
/// lowercase letters, digits and inner `.`, `_`, `-`. Anything else never reaches a URL.
pub fn is_repository_name(name: &str) -> bool {
	let component = |c: &str| {
		let bytes = c.as_bytes();
		!bytes.is_empty()
			&& bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
			&& bytes[0].is_ascii_alphanumeric()
			&& bytes[bytes.len() - 1].is_ascii_alphanumeric()
			&& !c.contains("..")
	};
	name.len() <= 255 && name.split('/').all(component)
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
	/// What the blob is (e.g. a gzip-compressed layer).
	#[serde(rename = "mediaType", default)]
	pub media_type: String,
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
	/// Every other key as written: Docker reads keys regardless of case, so they are checked
	/// that way (`executor::image`).
	#[serde(flatten)]
	pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The layers of an image config.
#[derive(Clone, Debug, Deserialize)]
pub struct RootFs {
	/// `sha256:<hex>` of each uncompressed layer, base first.
	pub diff_ids: Vec<String>,
}
