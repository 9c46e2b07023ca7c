//! Configuration files (TOML): read, parsed and checked beyond their types. Unknown keys are
//! errors in every schema, so a typo never silently falls back to a default.

use modicum_runtime::AccountId;
use serde::{de::Error as _, Deserialize, Deserializer};
use sp_core::crypto::Ss58Codec;
use std::path::Path;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
	/// The file could not be read.
	#[error("cannot read {path}: {source}")]
	Read {
		/// The file.
		path: String,
		/// The cause.
		source: std::io::Error,
	},
	/// The file is not a valid configuration.
	#[error("invalid configuration {path}: {source}")]
	Parse {
		/// The file.
		path: String,
		/// The cause.
		source: toml::de::Error,
	},
	/// A value is out of range.
	#[error("invalid configuration {path}: {message}")]
	Invalid {
		/// The file.
		path: String,
		/// What is wrong.
		message: String,
	},
}

/// Reads, parses and checks a configuration file.
pub fn load<T: for<'de> Deserialize<'de> + Validate>(path: &Path) -> Result<T, ConfigError> {
	let shown = path.display().to_string();
	let text = std::fs::read_to_string(path)
		.map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
	parse(&text, &shown)
}

/// Parses and checks a configuration's text; `shown` names it in errors.
pub fn parse<T: for<'de> Deserialize<'de> + Validate>(text: &str, shown: &str) -> Result<T, ConfigError> {
	let config: T = toml::from_str(text)
		.map_err(|source| ConfigError::Parse { path: shown.into(), source })?;
	config.validate().map_err(|message| ConfigError::Invalid { path: shown.into(), message })?;
	Ok(config)
}

/// Checks a parsed configuration beyond its types.
pub trait Validate {
	/// `Err` with a message naming the bad value.
	fn validate(&self) -> Result<(), String>;
}

/// An account written as SS58.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account(pub AccountId);

impl<'de> Deserialize<'de> for Account {
	fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		let text = String::deserialize(deserializer)?;
		AccountId::from_ss58check(&text)
			.map(Account)
			.map_err(|e| D::Error::custom(format!("`{text}` is not an SS58 account: {e:?}")))
	}
}

/// The accounts of a configured list.
pub fn accounts(list: &[Account]) -> Vec<AccountId> {
	list.iter().map(|a| a.0.clone()).collect()
}
