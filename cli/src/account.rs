//! The job creator's signing key: a secret URI (`//Alice`, a mnemonic, a hex seed) given
//! directly, read from a file, or taken from a node keystore's `mdcm` keys.

use modicum_common::signing::KEY_TYPE;
use sp_core::{sr25519, Pair};
use std::path::{Path, PathBuf};

/// Where the key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
	/// A secret URI (`--seed`, `MODICUM_SEED`).
	Seed(String),
	/// A file holding a secret URI (`--seed-file`).
	SeedFile(PathBuf),
	/// A node keystore directory (`--keystore`, e.g. `<base-path>/chains/<id>/keystore`).
	Keystore(PathBuf),
}

/// Why no key could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
	/// The file could not be read.
	#[error("cannot read {path}: {source}")]
	Read {
		/// The file.
		path: PathBuf,
		/// The cause.
		source: std::io::Error,
	},
	/// The secret is not a valid secret URI.
	#[error("{0} is not a valid secret URI, mnemonic or seed")]
	Invalid(String),
	/// The keystore has no `mdcm` key, or several.
	#[error("{path} holds {found} `mdcm` keys; it must hold exactly one (insert one with `modicum-node key insert --key-type mdcm --scheme sr25519 --suri <seed>`)")]
	Keystore {
		/// The keystore.
		path: PathBuf,
		/// How many keys it holds.
		found: usize,
	},
}

fn pair(secret: &str, what: &str) -> Result<sr25519::Pair, AccountError> {
	sr25519::Pair::from_string(secret.trim(), None).map_err(|_| AccountError::Invalid(what.into()))
}

fn read(path: &Path) -> Result<String, AccountError> {
	std::fs::read_to_string(path).map_err(|source| AccountError::Read { path: path.into(), source })
}

impl KeySource {
	/// The key pair.
	pub fn load(&self) -> Result<sr25519::Pair, AccountError> {
		match self {
			Self::Seed(secret) => pair(secret, "the seed"),
			Self::SeedFile(path) => pair(&read(path)?, &path.display().to_string()),
			Self::Keystore(dir) => {
				// A keystore file is named `<hex key type><hex public key>` and holds the
				// secret URI as a JSON string.
				let prefix = hex::encode(KEY_TYPE.0);
				let entries = std::fs::read_dir(dir)
					.map_err(|source| AccountError::Read { path: dir.clone(), source })?;
				let keys: Vec<PathBuf> = entries
					.flatten()
					.filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
					.map(|e| e.path())
					.collect();
				let [key] = keys.as_slice() else {
					return Err(AccountError::Keystore { path: dir.clone(), found: keys.len() });
				};
				let secret: String = serde_json::from_str(&read(key)?)
					.map_err(|_| AccountError::Invalid(key.display().to_string()))?;
				pair(&secret, &key.display().to_string())
			}
		}
	}
}
