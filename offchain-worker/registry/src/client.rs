//! One registry's HTTP client: requests with redirects, answers read under caps and timeouts,
//! basic and token authentication, and the errors that tell this host's configuration from
//! the registry's outage.

use crate::{
	access::{normalize, Credentials}, Registries, RegistryError, MAX_BODY,
	REQUEST_TIMEOUT,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
	body::Bytes,
	header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE},
	Method, Request, StatusCode,
};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use modicum_common::errors::error_chain;
use serde::Deserialize;
use std::{
	collections::HashMap,
	sync::{Arc, Mutex},
};

/// A client of one directory's registry.
#[derive(Clone)]
pub struct Registry {
	/// `scheme://host[:port]`, normalized.
	pub(crate) endpoint: String,
	pub(crate) client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
	pub(crate) credentials: Option<Arc<Credentials>>,
	/// The last token the registry's token server gave, sent instead of the basic credentials.
	pub(crate) token: Arc<Mutex<Option<String>>>,
}

/// How many redirects a read follows (a registry may serve blobs from elsewhere).
const MAX_REDIRECTS: usize = 3;


impl Registry {
	/// A client of the registry at `endpoint` (`http(s)://host[:port]`) with nothing
	/// configured for it: the system's trust store, no credentials.
	pub fn new(endpoint: &str) -> Result<Self, RegistryError> {
		Registries::default().client(endpoint)
	}

	/// Its URL, `scheme://host[:port]`.
	pub fn endpoint(&self) -> &str {
		&self.endpoint
	}

	/// `host[:port]`, as Docker names images of this registry.
	pub fn host(&self) -> &str {
		self.endpoint.split_once("://").map_or(&self.endpoint, |(_, host)| host)
	}


	pub(crate) async fn get(
		&self,
		path: &str,
		headers: &[(&str, &str)],
		what: &str,
		max_bytes: usize,
	) -> Result<Bytes, RegistryError> {
		let (status, body) =
			self.request(Method::GET, path, headers, Bytes::new(), max_bytes).await?;
		match status {
			StatusCode::OK => Ok(body),
			StatusCode::NOT_FOUND => Err(RegistryError::NotFound(what.into())),
			other => Err(self.unavailable(format!("GET {path} answered {other}"))),
		}
	}

	/// A request whose answer is read whole, up to `max_bytes`.
	pub(crate) async fn request(
		&self,
		method: Method,
		path: &str,
		headers: &[(&str, &str)],
		body: Bytes,
		max_bytes: usize,
	) -> Result<(StatusCode, Bytes), RegistryError> {
		let response = self.send(method, path, headers, body).await?;
		let status = response.status();
		Ok((status, self.read_body(response, path, max_bytes).await?))
	}

	/// A whole answer of at most `max_bytes`, each chunk within the request timeout.
	pub(crate) async fn read_body(
		&self,
		response: hyper::Response<hyper::body::Incoming>,
		what: &str,
		max_bytes: usize,
	) -> Result<Bytes, RegistryError> {
		let body = tokio::time::timeout(
			REQUEST_TIMEOUT,
			Limited::new(response.into_body(), max_bytes).collect(),
		)
		.await
		.map_err(|_| self.unavailable("timed out reading the answer".into()))?
		.map_err(|e| {
			if e.is::<http_body_util::LengthLimitError>() {
				RegistryError::TooLarge { what: what.into(), limit: max_bytes as u64 }
			} else {
				self.unavailable(e.to_string())
			}
		})?;
		Ok(body.to_bytes())
	}

	/// Sends a request to `target` (a path of this registry or an absolute URL) with this
	/// host's credentials — only ever to this registry: a bearer token got from the
	/// registry's token server when it asks for one, else the basic credentials. Reads follow
	/// redirects. A refusal of the credentials is `Credentials`, whatever the caller expects.
	pub(crate) async fn send(
		&self,
		method: Method,
		target: &str,
		headers: &[(&str, &str)],
		body: Bytes,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut url =
			if is_absolute(target) { target.to_string() } else { format!("{}{target}", self.endpoint) };
		let (mut redirects, mut token_fetched) = (0, false);
		loop {
			let ours = same_origin(&url, &self.endpoint);
			let authorization = if ours { self.authorization() } else { None };
			let response =
				self.send_once(method.clone(), &url, headers, body.clone(), authorization).await?;
			let status = response.status();
			if ours && status == StatusCode::UNAUTHORIZED && !token_fetched {
				if let Some(challenge) = bearer_challenge(&response) {
					token_fetched = true;
					self.fetch_token(&challenge).await?;
					continue;
				}
			}
			if ours && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
				return Err(self.refused(status, &response, token_fetched));
			}
			let reads = method == Method::GET || method == Method::HEAD;
			if reads && status.is_redirection() && redirects < MAX_REDIRECTS {
				if let Some(next) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
					url = if is_absolute(next) {
						next.to_string()
					} else if next.starts_with('/') {
						format!("{}{next}", origin(&url))
					} else {
						return Err(RegistryError::Invalid(format!("a redirect to `{next}`")));
					};
					redirects += 1;
					continue;
				}
			}
			return Ok(response);
		}
	}

	/// One request, within the request timeout.
	pub(crate) async fn send_once(
		&self,
		method: Method,
		url: &str,
		headers: &[(&str, &str)],
		body: Bytes,
		authorization: Option<String>,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut request = Request::builder().method(method).uri(url);
		for (name, value) in headers {
			request = request.header(*name, *value);
		}
		if let Some(authorization) = authorization {
			request = request.header(AUTHORIZATION, authorization);
		}
		let request = request
			.body(Full::new(body))
			.map_err(|e| RegistryError::Invalid(format!("request {url}: {e}")))?;
		tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
			.await
			.map_err(|_| self.unavailable("timed out".into()))?
			.map_err(|e| match untrusted_certificate(&e) {
				Some(reason) => RegistryError::Certificate { endpoint: self.endpoint.clone(), reason },
				None => self.unavailable(error_chain(&e)),
			})
	}

	/// The `Authorization` this registry gets: its token, else the basic credentials.
	pub(crate) fn authorization(&self) -> Option<String> {
		let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
		token.map(|token| format!("Bearer {token}")).or_else(|| self.credentials.as_ref().map(|c| c.basic()))
	}

	/// Gets a token from the token server a `Bearer` challenge names (Docker's token auth),
	/// with the basic credentials when configured: they go to the token server only over
	/// TLS or when it is this registry itself.
	pub(crate) async fn fetch_token(&self, challenge: &HashMap<String, String>) -> Result<(), RegistryError> {
		let realm = challenge
			.get("realm")
			.filter(|realm| is_absolute(realm))
			.ok_or_else(|| RegistryError::Invalid("a Bearer challenge without an http(s) realm".into()))?;
		let query: Vec<String> = ["service", "scope"]
			.into_iter()
			.filter_map(|key| challenge.get(key).map(|value| format!("{key}={}", percent_encode(value))))
			.collect();
		let separator = if realm.contains('?') { '&' } else { '?' };
		let url =
			if query.is_empty() { realm.clone() } else { format!("{realm}{separator}{}", query.join("&")) };
		let safe = realm.starts_with("https://") || same_origin(realm, &self.endpoint);
		let authorization = self.credentials.as_ref().filter(|_| safe).map(|c| c.basic());
		let response = self.send_once(Method::GET, &url, &[], Bytes::new(), authorization).await?;
		let status = response.status();
		let body = self.read_body(response, "the token server's answer", MAX_BODY).await?;
		match status {
			StatusCode::OK => {}
			StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
				let problem = match &self.credentials {
					None => format!("needs credentials: its token server {realm} answered {status} without any; configure `username` and `password_file` in a [[registry]] entry for {}", self.endpoint),
					Some(_) if !safe => format!("sends credentials to a token server over plain http ({realm}), which this host refuses to do"),
					Some(_) => format!("refused our credentials: its token server {realm} answered {status}; check `username` and `password_file` of the [[registry]] entry for {}", self.endpoint),
				};
				return Err(RegistryError::Credentials { endpoint: self.endpoint.clone(), problem });
			}
			other => return Err(self.unavailable(format!("token server {realm} answered {other}"))),
		}
		#[derive(Deserialize)]
		struct Answer {
			token: Option<String>,
			access_token: Option<String>,
		}
		let answer: Answer = serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("token server {realm}: {e}")))?;
		let token = answer
			.token
			.or(answer.access_token)
			.filter(|t| !t.is_empty())
			.ok_or_else(|| RegistryError::Invalid(format!("token server {realm} gave no token")))?;
		*self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
		Ok(())
	}

	/// The `Credentials` error of a 401 or 403 from this registry.
	pub(crate) fn refused(
		&self,
		status: StatusCode,
		response: &hyper::Response<hyper::body::Incoming>,
		token_fetched: bool,
	) -> RegistryError {
		let endpoint = &self.endpoint;
		let scheme = response
			.headers()
			.get(WWW_AUTHENTICATE)
			.and_then(|v| v.to_str().ok())
			.and_then(|v| v.split_whitespace().next())
			.unwrap_or_default();
		let problem = if !scheme.is_empty()
			&& !scheme.eq_ignore_ascii_case("basic")
			&& !scheme.eq_ignore_ascii_case("bearer")
		{
			format!("asks for `{scheme}` authentication ({status}); only HTTP basic auth and Docker's token auth are supported")
		} else if self.credentials.is_none() {
			format!("needs credentials ({status}): configure `username` and `password_file` in a [[registry]] entry for {endpoint}")
		} else if token_fetched || status == StatusCode::FORBIDDEN {
			format!("refused access with our credentials ({status}): check the account of the [[registry]] entry for {endpoint} may read and write there")
		} else {
			format!("refused our credentials ({status}): check `username` and `password_file` of the [[registry]] entry for {endpoint}")
		};
		RegistryError::Credentials { endpoint: endpoint.clone(), problem }
	}

	pub(crate) fn unavailable(&self, reason: String) -> RegistryError {
		RegistryError::Unavailable { endpoint: self.endpoint.clone(), reason }
	}
}

pub(crate) fn is_absolute(url: &str) -> bool {
	url.starts_with("http://") || url.starts_with("https://")
}

/// `scheme://authority` of an absolute URL.
pub(crate) fn origin(url: &str) -> &str {
	let after_scheme = url.find("://").map_or(0, |i| i + 3);
	let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
	&url[..end]
}

/// Whether `url` is on the registry at `endpoint` (normalized), so it may get its credentials.
pub(crate) fn same_origin(url: &str, endpoint: &str) -> bool {
	normalize(origin(url)).is_some_and(|o| o == endpoint)
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",…` challenge.
pub(crate) fn bearer_challenge(response: &hyper::Response<hyper::body::Incoming>) -> Option<HashMap<String, String>> {
	let value = response.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
	let (scheme, rest) = value.trim().split_once(' ')?;
	scheme.eq_ignore_ascii_case("bearer").then(|| challenge_parameters(rest))
}

/// `k="v", k2=v2` (quoted values may hold commas and `\"`).
pub(crate) fn challenge_parameters(text: &str) -> HashMap<String, String> {
	let mut parameters = HashMap::new();
	let mut chars = text.chars().peekable();
	loop {
		while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
		let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
		if key.is_empty() {
			break;
		}
		let mut value = String::new();
		if chars.next_if_eq(&'=').is_some() {
			if chars.next_if_eq(&'"').is_some() {
				while let Some(c) = chars.next() {
					match c {
						'\\' => value.extend(chars.next()),
						'"' => break,
						c => value.push(c),
					}
				}
			} else {
				value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
			}
		}
		parameters.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
	}
	parameters
}

/// A query value with everything but RFC 3986's unreserved characters escaped.
pub(crate) fn percent_encode(value: &str) -> String {
	value
		.bytes()
		.map(|b| match b {
			b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
			b => format!("%{b:02X}"),
		})
		.collect()
}

/// The certificate problem, if a connection failed because TLS did not trust the server.
pub(crate) fn untrusted_certificate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
	let certificate = |e: &rustls::Error| {
		matches!(e, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
			.then(|| e.to_string())
	};
	let mut next = Some(error);
	while let Some(e) = next {
		if let Some(found) = e.downcast_ref::<rustls::Error>().and_then(certificate) {
			return Some(found);
		}
		// An `io::Error`'s `source` skips the error it wraps (TLS errors come wrapped twice).
		next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
			Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
			None => e.source(),
		};
	}
	None
}
