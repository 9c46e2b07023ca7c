//! The mediator's own link, proved against its reference download before it blames a directory
//! for slowness (docs/protocol.md, "Mediation: the verdict"): a directory that did not serve a
//! job within its fetch bound is at fault only if this host read its reference file, right
//! before and right after, at least at the rate the bound asked of the directory. Otherwise the
//! slowness may be this host's own, and its own failure is never a verdict. The reference is
//! read once at start too, so that a missing, redirected, small or slow one is found then.

use crate::config::ReferenceConfig;
use http_body_util::{BodyExt, Empty};
use hyper::{body::Bytes, Request, StatusCode};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use modicum_common::errors::error_chain;
use modicum_registry::{Connector, Registries};
use modicum_runtime::MILLI_SECS_PER_BLOCK;
use pallet_market::{MarketParametersOf, Resources};
use std::time::Duration;
use tokio::time::Instant;

/// Why this host's link did not prove fast: its own failure, never the directory's.
#[derive(Debug, thiserror::Error)]
pub(super) enum LinkError {
	/// The reference's server answered with something else than the file (a redirect is not
	/// followed): the URL is wrong.
	#[error("the reference download {url} answered {status}: give the URL of the file itself")]
	Refused {
		/// The reference's URL.
		url: String,
		/// The HTTP status.
		status: StatusCode,
	},
	/// The reference could not be read.
	#[error("the reference download {url} failed: {reason}")]
	Failed {
		/// The reference's URL.
		url: String,
		/// What went wrong.
		reason: String,
	},
	/// The reference holds less than a proof reads.
	#[error("the reference download {url} ended after {read_kib} KiB of the {wanted_kib} KiB a proof reads")]
	Short {
		/// The reference's URL.
		url: String,
		/// KiB read.
		read_kib: u64,
		/// KiB the proof reads.
		wanted_kib: u64,
	},
	/// The reference came slower than the market's bound for its size.
	#[error("the reference download {url} did not move {wanted_kib} KiB within {limit_ms} ms: this host's link is slower than the market's reference link")]
	Slow {
		/// The reference's URL.
		url: String,
		/// KiB the proof reads.
		wanted_kib: u64,
		/// The bound.
		limit_ms: u64,
	},
}

/// The mediator's reference download, ready to read.
pub(super) struct Reference {
	url: String,
	kib: u64,
	client: Client<Connector, Empty<Bytes>>,
}

impl Reference {
	/// `config`'s reference; an `https://` one's certificate is checked as `registries` checks
	/// its origin's.
	pub(super) fn new(config: &ReferenceConfig, registries: &Registries) -> Self {
		let client = Client::builder(TokioExecutor::new()).build(registries.connector(&config.url));
		Self { url: config.url.clone(), kib: config.kib, client }
	}

	/// Proves this host's link for a job of `bandwidth` KiB whose fetch bound is `fetch_limit`:
	/// reads the least of that and the configured KiB of the reference at least at the rate the
	/// bound asks of a directory (within `fetch_limit` · read / `bandwidth`); the time it took.
	pub(super) async fn prove(&self, bandwidth: u64, fetch_limit: Duration) -> Result<Duration, LinkError> {
		let wanted_kib = bandwidth.clamp(1, self.kib);
		let limit_ms = u128::from(wanted_kib) * fetch_limit.as_millis() / u128::from(bandwidth.max(1));
		let limit = Duration::from_millis(u64::try_from(limit_ms).unwrap_or(u64::MAX));
		let started = Instant::now();
		match tokio::time::timeout(limit, self.read(wanted_kib)).await {
			Ok(read) => read.map(|()| started.elapsed()),
			Err(_) => Err(LinkError::Slow {
				url: self.url.clone(),
				wanted_kib,
				limit_ms: limit.as_millis() as u64,
			}),
		}
	}

	/// Whether the error says the reference is misconfigured (a redirect, an answer that the
	/// request or the file is wrong, a file too small), rather than unreachable, overloaded or
	/// slow for now.
	pub(super) fn misconfigured(error: &LinkError) -> bool {
		match error {
			LinkError::Refused { status, .. } => {
				status.is_redirection() ||
					(status.is_client_error() &&
						*status != StatusCode::REQUEST_TIMEOUT &&
						*status != StatusCode::TOO_MANY_REQUESTS)
			},
			LinkError::Short { .. } => true,
			LinkError::Failed { .. } | LinkError::Slow { .. } => false,
		}
	}

	/// Proves the link once at start, for a job of the configured KiB under `parameters`: a
	/// reference that is missing, too small, redirected or slow is found before a dispute needs
	/// it. The time it took.
	pub(super) async fn check(
		&self,
		parameters: &MarketParametersOf<modicum_runtime::Runtime>,
	) -> Result<Duration, LinkError> {
		let blocks = parameters
			.fetch_bound(&Resources { bandwidth: self.kib, ..Default::default() })
			.unwrap_or(u32::MAX);
		let bound = Duration::from_millis(u64::from(blocks).saturating_mul(MILLI_SECS_PER_BLOCK));
		self.prove(self.kib, bound).await
	}

	/// Whether the reference is on this host or its local network: a proof there says nothing
	/// of the link to directories elsewhere.
	pub(super) fn is_local(&self) -> bool {
		let Some(host) = self.url.parse::<hyper::Uri>().ok().and_then(|uri| uri.host().map(str::to_owned)) else {
			return false;
		};
		let host = host.trim_start_matches('[').trim_end_matches(']');
		match host.parse::<std::net::IpAddr>() {
			Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
			Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
			Err(_) => host == "localhost",
		}
	}

	/// Reads the first `kib` KiB of the reference (then hangs up).
	async fn read(&self, kib: u64) -> Result<(), LinkError> {
		let failed = |reason: String| LinkError::Failed { url: self.url.clone(), reason };
		let request = Request::get(self.url.as_str()).body(Empty::new()).map_err(|e| failed(e.to_string()))?;
		let response = self.client.request(request).await.map_err(|e| failed(error_chain(&e)))?;
		if response.status() != StatusCode::OK {
			return Err(LinkError::Refused { url: self.url.clone(), status: response.status() });
		}
		let wanted = kib.saturating_mul(1024);
		let (mut body, mut read) = (response.into_body(), 0u64);
		while read < wanted {
			let Some(frame) = body.frame().await else {
				return Err(LinkError::Short { url: self.url.clone(), read_kib: read / 1024, wanted_kib: kib });
			};
			let frame = frame.map_err(|e| failed(e.to_string()))?;
			if let Some(data) = frame.data_ref() {
				read = read.saturating_add(data.len() as u64);
			}
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use tokio::{io::AsyncWriteExt, net::TcpListener};

	/// A server answering every request with `size` bytes, `chunk` at a time, `pause` apart.
	async fn serve(size: usize, chunk: usize, pause: Duration) -> String {
		let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
		let address = listener.local_addr().unwrap();
		tokio::spawn(async move {
			while let Ok((mut socket, _)) = listener.accept().await {
				tokio::spawn(async move {
					let mut request = [0u8; 1024];
					let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
					let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
					if socket.write_all(head.as_bytes()).await.is_err() {
						return;
					}
					let mut left = size;
					while left > 0 {
						let n = chunk.min(left);
						if socket.write_all(&vec![0u8; n]).await.is_err() {
							return;
						}
						left -= n;
						tokio::time::sleep(pause).await;
					}
				});
			}
		});
		format!("http://{address}/reference")
	}

	fn reference(url: String, kib: u64) -> Reference {
		Reference::new(&ReferenceConfig { url, kib }, &Registries::default())
	}

	/// One 2 s block: the fetch bound of a job of 1 MiB on a link of 1 MiB per block.
	const MIB_PER_BLOCK: Duration = Duration::from_millis(MILLI_SECS_PER_BLOCK);

	#[tokio::test]
	async fn a_fast_link_reads_the_reference_within_the_bound() {
		let url = serve(4 << 20, 64 << 10, Duration::ZERO).await;
		// A job of 100 KiB reads 100 KiB of the 4 MiB, within its bound.
		reference(url, 4096).prove(100, MIB_PER_BLOCK / 10).await.unwrap();
	}

	#[tokio::test]
	async fn a_link_slower_than_the_markets_reference_proves_nothing() {
		// 1 KiB every 100 ms: far below 1 MiB per 2 s block.
		let url = serve(4 << 20, 1024, Duration::from_millis(100)).await;
		let error = reference(url, 1024).prove(1024, MIB_PER_BLOCK).await.unwrap_err();
		assert!(matches!(error, LinkError::Slow { wanted_kib: 1024, limit_ms: 2000, .. }), "{error}");
	}

	#[tokio::test]
	async fn a_job_larger_than_the_reference_asks_its_own_rate_of_the_proof() {
		// A job of 64 MiB with a bound of 8 blocks asks 8 MiB per block; the proof reads the
		// reference's 4 MiB in a sixteenth of the bound, not in the whole bound.
		let url = serve(8 << 20, 1024, Duration::from_millis(100)).await;
		let error = reference(url, 4096).prove(64 << 10, MIB_PER_BLOCK * 8).await.unwrap_err();
		assert!(matches!(error, LinkError::Slow { wanted_kib: 4096, limit_ms: 1000, .. }), "{error}");
	}

	#[tokio::test]
	async fn a_reference_answering_other_than_the_file_is_misconfigured() {
		let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
		let address = listener.local_addr().unwrap();
		tokio::spawn(async move {
			while let Ok((mut socket, _)) = listener.accept().await {
				let mut request = [0u8; 1024];
				let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
				let _ = socket.write_all(b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n").await;
			}
		});
		let error = reference(format!("http://{address}/reference"), 64).prove(64, MIB_PER_BLOCK).await.unwrap_err();
		assert!(matches!(error, LinkError::Refused { status: StatusCode::FOUND, .. }), "{error}");
		assert!(Reference::misconfigured(&error));
		// A server overloaded for now is not a wrong URL.
		let url = "http://reference".to_string();
		for (status, wrong) in [(StatusCode::NOT_FOUND, true), (StatusCode::FORBIDDEN, true), (StatusCode::SERVICE_UNAVAILABLE, false), (StatusCode::TOO_MANY_REQUESTS, false), (StatusCode::REQUEST_TIMEOUT, false)] {
			assert_eq!(Reference::misconfigured(&LinkError::Refused { url: url.clone(), status }), wrong, "{status}");
		}
	}

	#[tokio::test]
	async fn a_reference_smaller_than_a_proof_or_missing_proves_nothing() {
		let url = serve(10 << 10, 1024, Duration::ZERO).await;
		let error = reference(url, 64).prove(1024, MIB_PER_BLOCK).await.unwrap_err();
		assert!(matches!(error, LinkError::Short { read_kib: 10, wanted_kib: 64, .. }), "{error}");
		assert!(Reference::misconfigured(&error));
		// A port nothing listens on: bound, then let go.
		let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
		let error = reference(format!("http://{closed}/reference"), 64)
			.prove(1024, MIB_PER_BLOCK)
			.await
			.unwrap_err();
		assert!(matches!(error, LinkError::Failed { .. }), "{error}");
		assert!(!Reference::misconfigured(&error), "unreachable for now, not a wrong URL");
	}

	#[test]
	fn a_reference_on_this_host_or_its_network_is_told_apart() {
		for url in ["http://127.0.0.1:5080/r", "http://localhost/r", "http://10.1.2.3/r", "http://[::1]/r", "http://192.168.0.9/r"] {
			assert!(reference(url.into(), 1).is_local(), "{url}");
		}
		for url in ["https://deb.debian.org/debian/ls-lR.gz", "http://93.184.216.34/r"] {
			assert!(!reference(url.into(), 1).is_local(), "{url}");
		}
	}
}
