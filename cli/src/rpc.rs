//! JSON-RPC to a node over HTTP. The node serves HTTP and WebSocket on one port, so a
//! `ws://` URL names the same endpoint; polling blocks over HTTP needs no subscription client.

use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, Method, Request};
use hyper_util::{
	client::legacy::{connect::HttpConnector, Client},
	rt::TokioExecutor,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::time::Duration;

/// How long one call may take: a node that does not answer within it is unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer accepted (a block with full extrinsics, a page of storage).
const MAX_ANSWER: usize = 64 << 20;

/// Why a call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
	/// The URL is not `http://`, `https://`-less `ws://host:port` or `host:port`.
	#[error("`{0}` is not a node URL like ws://127.0.0.1:9944")]
	Url(String),
	/// The node could not be reached or did not answer in time.
	#[error("node {url} unreachable: {reason} (is the node running? set --url or MODICUM_URL)")]
	Unreachable {
		/// The endpoint.
		url: String,
		/// The cause.
		reason: String,
	},
	/// The node answered with a JSON-RPC error.
	#[error("{method}: the node answered: {message}")]
	Node {
		/// The method called.
		method: String,
		/// The node's message.
		message: String,
	},
	/// The answer is not what the method returns.
	#[error("{method}: unexpected answer: {reason}")]
	Invalid {
		/// The method called.
		method: String,
		/// What is wrong with it.
		reason: String,
	},
}

/// A JSON-RPC client of one node.
#[derive(Clone)]
pub struct Rpc {
	url: String,
	client: Client<HttpConnector, Full<Bytes>>,
}

impl Rpc {
	/// A client of the node at `url` (`ws://host:port`, `http://host:port` or `host:port`).
	pub fn new(url: &str) -> Result<Self, RpcError> {
		let rest = url
			.strip_prefix("ws://")
			.or_else(|| url.strip_prefix("http://"))
			.unwrap_or(url)
			.trim_end_matches('/');
		if rest.is_empty() || rest.contains("://") || rest.contains('/') {
			return Err(RpcError::Url(url.into()));
		}
		let client = Client::builder(TokioExecutor::new()).build_http();
		Ok(Self { url: format!("http://{rest}"), client })
	}

	/// Calls `method` with `params`, decoding the result as `T`.
	pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
		let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
		let request = Request::builder()
			.method(Method::POST)
			.uri(&self.url)
			.header("content-type", "application/json")
			.body(Full::new(Bytes::from(body.to_string())))
			.map_err(|e| RpcError::Url(e.to_string()))?;
		let unreachable =
			|reason: String| RpcError::Unreachable { url: self.url.clone(), reason };
		let answer = tokio::time::timeout(CALL_TIMEOUT, async {
			let response = self.client.request(request).await.map_err(|e| unreachable(e.to_string()))?;
			let body = Limited::new(response.into_body(), MAX_ANSWER)
				.collect()
				.await
				.map_err(|e| unreachable(e.to_string()))?;
			Ok::<_, RpcError>(body.to_bytes())
		})
		.await
		.map_err(|_| unreachable(format!("no answer within {CALL_TIMEOUT:?}")))??;
		let invalid = |reason: String| RpcError::Invalid { method: method.into(), reason };
		let mut reply: Value = serde_json::from_slice(&answer).map_err(|e| invalid(e.to_string()))?;
		if let Some(error) = reply.get("error") {
			let message = error.get("message").and_then(Value::as_str).unwrap_or("error");
			let data = error.get("data").map(|d| format!(": {d}")).unwrap_or_default();
			return Err(RpcError::Node { method: method.into(), message: format!("{message}{data}") });
		}
		serde_json::from_value(reply["result"].take()).map_err(|e| invalid(e.to_string()))
	}
}
