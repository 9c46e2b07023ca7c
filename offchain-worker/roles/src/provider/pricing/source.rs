//! Reading a price source: a file, or an `http://` or `https://` URL through the registry
//! client's connector (HTTP/1, rustls; an `https://` source's certificate checked against the
//! `ca_file` of the `[[registry]]` entry for its `https://host[:port]`, else the system's trust
//! store). Every read is capped at [`MAX_SOURCE_BYTES`]; the caller caps it in time.

use super::PricingError;
use crate::config::{Amount, PriceSource};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{body::Bytes, Request, StatusCode};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use modicum_common::errors::error_chain;
use modicum_registry::{Connector, Registries};
use modicum_runtime::Balance;
use std::path::PathBuf;

/// The most bytes a price source may hold: a price is a short line, so more is not a tariff.
pub(super) const MAX_SOURCE_BYTES: usize = 4096;

/// A price source, ready to read.
pub(super) enum Source {
	/// A local file.
	File(PathBuf),
	/// A URL and the client that reads it.
	Url {
		/// `http://…` or `https://…`.
		url: String,
		/// The registry client's connector; no credentials are sent.
		client: Client<Connector, Empty<Bytes>>,
	},
}

impl Source {
	/// `source`, ready to read; a URL's TLS trusts what `registries` configures for its origin.
	pub(super) fn new(source: &PriceSource, registries: &Registries) -> Self {
		match source {
			PriceSource::File(path) => Source::File(path.clone()),
			PriceSource::Url(url) => Source::Url {
				url: url.clone(),
				client: Client::builder(TokioExecutor::new()).build(registries.connector(url)),
			},
		}
	}

	/// The source's bytes, at most [`MAX_SOURCE_BYTES`]; `location` names it in errors.
	pub(super) async fn fetch(&self, location: &str) -> Result<Vec<u8>, PricingError> {
		let unreadable =
			|reason: String| PricingError::Unreadable { location: location.to_string(), reason };
		let too_large = || PricingError::TooLarge { location: location.to_string() };
		match self {
			Source::File(path) => {
				use tokio::io::AsyncReadExt;
				let file =
					tokio::fs::File::open(path).await.map_err(|e| unreadable(e.to_string()))?;
				let mut bytes = Vec::new();
				// One byte past the limit tells a full file from a larger one.
				file.take(MAX_SOURCE_BYTES as u64 + 1)
					.read_to_end(&mut bytes)
					.await
					.map_err(|e| unreadable(e.to_string()))?;
				if bytes.len() > MAX_SOURCE_BYTES {
					return Err(too_large());
				}
				Ok(bytes)
			}
			Source::Url { url, client } => {
				let request = Request::get(url.as_str())
					.body(Empty::new())
					.map_err(|e| unreadable(e.to_string()))?;
				let response =
					client.request(request).await.map_err(|e| unreadable(error_chain(&e)))?;
				if response.status() != StatusCode::OK {
					return Err(unreadable(format!("answered {}", response.status())));
				}
				// A body announced or sent past the limit is cut there, never read whole.
				let body = Limited::new(response.into_body(), MAX_SOURCE_BYTES).collect().await;
				match body {
					Ok(body) => Ok(body.to_bytes().to_vec()),
					Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
					Err(e) => Err(unreadable(e.to_string())),
				}
			}
		}
	}
}

/// The price of 1 kWh a source holds: one amount, e.g. `0.3 MDC` or `300 mMDC`.
pub(super) fn parse_price(location: &str, bytes: &[u8]) -> Result<Balance, PricingError> {
	let invalid = |reason: String| PricingError::Invalid { location: location.to_string(), reason };
	let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
	let Amount(price) = text.trim().parse().map_err(invalid)?;
	// A tariff of nothing is a broken tariff, not free power; free power is the fixed policy.
	if price == 0 {
		return Err(invalid("a price of 0".into()));
	}
	Ok(price)
}
