//! sha256 digests of images, layers and results, written `sha256:<64 hex>` as OCI writes them.

use pallet_market::Digest;
use serde::{de::Error as _, Deserialize, Deserializer};
use sha2::Digest as _;
use std::str::FromStr;

/// A sha256 digest written `sha256:<64 hex>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sha256(pub Digest);

impl FromStr for Sha256 {
	type Err = String;
	fn from_str(text: &str) -> Result<Self, String> {
		let hex_part = text
			.strip_prefix("sha256:")
			.ok_or_else(|| format!("`{text}` is not a `sha256:<hex>` digest"))?;
		let mut digest = [0u8; 32];
		hex::decode_to_slice(hex_part, &mut digest)
			.map_err(|_| format!("`{text}` is not a `sha256:<64 hex digits>` digest"))?;
		Ok(Sha256(digest))
	}
}

impl<'de> Deserialize<'de> for Sha256 {
	fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
	}
}

impl std::fmt::Display for Sha256 {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(&digest_string(&self.0))
	}
}

/// Writes a digest as `sha256:<hex>`.
pub fn digest_string(digest: &Digest) -> String {
	format!("sha256:{}", hex::encode(digest))
}

/// The sha256 of some bytes.
pub fn sha256(bytes: &[u8]) -> Digest {
	sha2::Sha256::digest(bytes).into()
}
