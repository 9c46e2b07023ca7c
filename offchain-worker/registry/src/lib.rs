//! The directory client: a directory's OCI registry (distribution API v2) over HTTP or HTTPS.
//! Images are read by manifest digest; result archives are blobs stored and fetched by their
//! sha256.
//!
//! What a host needs to reach a registry on another machine — the CA that signed its
//! certificate, the account it lets in — is configured per endpoint (`[[registry]]`,
//! [`RegistryAccess`]) and kept in [`Registries`], which hands out ready clients. A refusal of
//! those credentials or of the registry's certificate is this host's own configuration problem
//! ([`RegistryError::is_local`]), never the directory being down nor the job's fault.

mod access;
mod bound;
mod client;
mod delete;
mod oci;
mod push;
mod read;

pub use access::{validate_access, AccessFile, Connector, Registries, RegistryAccess};
pub use bound::{within, Answer};
pub use client::Registry;
pub use delete::Deletion;
pub use oci::{is_repository_name, Descriptor, ImageConfig, Manifest, RootFs};
pub use push::MANIFEST_V2;

use std::time::Duration;

/// Repository result archives are stored under.
pub const RESULTS_REPOSITORY: &str = "modicum/results";

/// The largest answer to a request whose body is read whole (a manifest, a config, an error).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// How long a request may wait for an answer, and a body for its next chunk: a slow link is
/// fine while bytes flow.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes sent per `PATCH` of a chunked upload.
pub(crate) const UPLOAD_CHUNK: usize = 1 << 20;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
	/// The registry could not be reached or did not answer in time.
	#[error("registry {endpoint} unavailable: {reason}")]
	Unavailable {
		/// Its URL.
		endpoint: String,
		/// The cause.
		reason: String,
	},
	/// The manifest or blob does not exist there.
	#[error("{0} not found in the registry")]
	NotFound(String),
	/// The registry answered something that is not what was asked for.
	#[error("invalid registry answer: {0}")]
	Invalid(String),
	/// The registry served other bytes than the digest asked for (altered or cut short): it did
	/// not serve what it holds under that name.
	#[error("the registry served {0} with another digest")]
	Corrupt(String),
	/// The answer is larger than the caller accepts.
	#[error("{what} is larger than {limit} bytes")]
	TooLarge {
		/// What was asked for.
		what: String,
		/// The most accepted.
		limit: u64,
	},
	/// The endpoint is not a URL this client speaks.
	#[error("unsupported directory endpoint `{0}`: only http://host[:port] and https://host[:port] registries are supported")]
	Endpoint(String),
	/// The registry refused this host's credentials, or wants some: this host's configuration.
	#[error("the directory's registry {endpoint} {problem}")]
	Credentials {
		/// Its URL.
		endpoint: String,
		/// What it refused, and what to configure.
		problem: String,
	},
	/// The registry's TLS certificate is not one this host trusts: this host's configuration
	/// (or the directory's certificate), never an outage.
	#[error("the directory's registry {endpoint} presented a certificate this host does not trust ({reason}): set `ca_file` in a [[registry]] entry for {endpoint}, or add its CA to the system trust store")]
	Certificate {
		/// Its URL.
		endpoint: String,
		/// What TLS found wrong.
		reason: String,
	},
}

impl RegistryError {
	/// Whether this is this host's own configuration problem (credentials, trusted CAs): then
	/// it says nothing of the directory or of the job, and ends no job.
	pub fn is_local(&self) -> bool {
		matches!(self, Self::Credentials { .. } | Self::Certificate { .. })
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use access::normalize;
	use base64::Engine as _;
	use client::*;
	use modicum_common::scratch::Scratch;
	use std::io::{BufRead, BufReader, Write};

	#[test]
	fn endpoints_name_one_registry_however_they_are_written() {
		assert_eq!(normalize("https://Dir.Example.org:443/").as_deref(), Some("https://dir.example.org"));
		assert_eq!(normalize("http://127.0.0.1:5000").as_deref(), Some("http://127.0.0.1:5000"));
		for bad in ["ftp://x", "https://", "https://x/v2", "https://user@x", "x:5000"] {
			assert_eq!(normalize(bad), None, "{bad}");
		}
		assert!(same_origin("https://dir.example.org/v2/x?y=1", "https://dir.example.org"));
		assert!(!same_origin("https://dir.example.org.evil/v2/", "https://dir.example.org"));
		assert!(!same_origin("http://dir.example.org/v2/", "https://dir.example.org"));
	}

	#[test]
	fn a_registry_entry_needs_both_credentials_and_tls_for_a_ca() {
		let entry = |endpoint: &str, ca: bool, user: bool, password: bool| RegistryAccess {
			endpoint: endpoint.into(),
			ca_file: ca.then(|| "/ca.pem".into()),
			username: user.then(|| "p7".into()),
			password_file: password.then(|| "/pass".into()),
		};
		assert!(validate_access(&[entry("https://d:5443", true, true, true)]).is_ok());
		assert!(validate_access(&[entry("https://d:5443", false, true, false)]).is_err());
		assert!(validate_access(&[entry("http://d:5000", true, false, false)]).is_err());
		assert!(validate_access(&[entry("http://d:5000", false, true, true)]).unwrap_err().contains("only over https"));
		assert!(validate_access(&[entry("http://127.0.0.1:5000", false, true, true)]).is_ok());
		assert!(validate_access(&[entry("https://d", false, false, false), entry("https://D:443/", false, false, false)])
			.unwrap_err()
			.contains("twice"));
	}

	#[test]
	fn a_missing_password_or_ca_file_is_an_error_at_start() {
		let scratch = Scratch::new("registry-access");
		let entry = RegistryAccess {
			endpoint: "https://d:5443".into(),
			ca_file: None,
			username: Some("p7".into()),
			password_file: Some(scratch.0.join("missing.pass")),
		};
		let error = Registries::load(std::slice::from_ref(&entry)).err().unwrap().to_string();
		assert!(error.contains("missing.pass"), "{error}");
		std::fs::write(scratch.0.join("not-a-ca.pem"), "hello").unwrap();
		let entry = RegistryAccess { ca_file: Some(scratch.0.join("not-a-ca.pem")), username: None, password_file: None, ..entry };
		let error = Registries::load(&[entry]).err().unwrap().to_string();
		assert!(error.contains("no PEM certificate"), "{error}");
	}

	#[test]
	fn bearer_challenges_read_like_docker_writes_them() {
		let parameters = challenge_parameters(
			r#"realm="https://auth.example/token",service="registry.example",scope="repository:jobs/a:pull,push""#,
		);
		assert_eq!(parameters["realm"], "https://auth.example/token");
		assert_eq!(parameters["service"], "registry.example");
		assert_eq!(parameters["scope"], "repository:jobs/a:pull,push");
		assert_eq!(challenge_parameters(r#"realm=x, error="a \"b\"""#)["error"], r#"a "b""#);
		assert_eq!(percent_encode("repository:jobs/a:pull,push"), "repository%3Ajobs%2Fa%3Apull%2Cpush");
	}

	/// A registry on loopback answering each request head with `answer`; its endpoint.
	fn fake_registry(answer: impl Fn(&str) -> String + Send + 'static) -> String {
		let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
		let endpoint = format!("http://{}", listener.local_addr().unwrap());
		std::thread::spawn(move || {
			for stream in listener.incoming() {
				let Ok(mut stream) = stream else { continue };
				let mut head = String::new();
				let mut reader = BufReader::new(stream.try_clone().unwrap());
				while reader.read_line(&mut head).is_ok_and(|n| n > 2) && !head.ends_with("\r\n\r\n") {}
				let _ = stream.write_all(answer(&head).as_bytes());
			}
		});
		endpoint
	}

	fn answer(status: &str, headers: &str, body: &str) -> String {
		format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n{headers}\r\n{body}", body.len())
	}

	/// Access to `endpoint` as `p7` with `password`.
	fn as_p7(endpoint: &str, password: &str) -> (Registries, Scratch) {
		let scratch = Scratch::new("registry-password");
		let file = scratch.0.join("pass");
		std::fs::write(&file, format!("{password}\n")).unwrap();
		let entry = RegistryAccess {
			endpoint: endpoint.into(),
			ca_file: None,
			username: Some("p7".into()),
			password_file: Some(file),
		};
		(Registries::load(&[entry]).unwrap(), scratch)
	}

	/// A registry asking for Docker's token auth, its token server answering `p7:secret`.
	fn token_registry(realm: Option<String>) -> String {
		let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("p7:secret"));
		let endpoint = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
		let here = endpoint.clone();
		let started = fake_registry(move |head| {
			let realm = realm.clone().unwrap_or_else(|| format!("{}/token", here.get().unwrap()));
			let authorized = |value: &str| head.lines().any(|l| l.eq_ignore_ascii_case(&format!("authorization: {value}")));
			if head.starts_with("GET /token?service=fake&scope=repository%3Ajobs%2Fa%3Apull ") {
				if authorized(&basic) {
					return answer("200 OK", "", r#"{"token":"t0k"}"#);
				}
				return answer("401 Unauthorized", "", "");
			}
			if authorized("Bearer t0k") {
				return answer("200 OK", "", "{}");
			}
			let challenge = format!("www-authenticate: Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:jobs/a:pull\"\r\n");
			answer("401 Unauthorized", &challenge, "")
		});
		endpoint.set(started.clone()).unwrap();
		started
	}

	#[tokio::test]
	async fn a_repository_name_that_is_no_url_path_is_refused_before_anything_is_read_or_sent() {
		// Nothing listens there and the archive does not exist: the name alone is refused.
		let registry = Registry::new("http://127.0.0.1:9").unwrap();
		let scratch = Scratch::new("registry-push-name");
		for name in ["../results", "jobs/a?b", "jobs/a#b", "Jobs/A", "jobs//a", "", "jobs/a/"] {
			let pushed = registry.push_saved_image(name, &scratch.0.join("missing.tar"), &scratch.0).await;
			assert!(
				matches!(&pushed, Err(RegistryError::Invalid(why)) if why.contains("not a repository name")),
				"{name:?}: {pushed:?}"
			);
		}
		assert!(is_repository_name("jobs/word-stats.v2_1"));
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn a_registry_with_token_auth_lets_in_whom_its_token_server_knows() {
		let endpoint = token_registry(None);
		let (registries, _scratch) = as_p7(&endpoint, "secret");
		registries.client(&endpoint).unwrap().ping().await.unwrap();

		let (registries, _scratch) = as_p7(&endpoint, "wrong");
		let refused = registries.client(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.is_local(), "{refused}");
		assert!(refused.to_string().contains("refused our credentials"), "{refused}");

		let anonymous = Registry::new(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(matches!(anonymous, RegistryError::Credentials { .. }), "{anonymous}");
		assert!(anonymous.to_string().contains("needs credentials"), "{anonymous}");
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn credentials_never_go_to_a_token_server_elsewhere_over_plain_http() {
		let elsewhere = token_registry(None);
		let endpoint = token_registry(Some(format!("{elsewhere}/token")));
		let (registries, _scratch) = as_p7(&endpoint, "secret");
		let refused = registries.client(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.to_string().contains("over plain http"), "{refused}");
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn another_authentication_scheme_is_named_as_unsupported_not_as_an_outage() {
		let endpoint = fake_registry(|_| answer("401 Unauthorized", "www-authenticate: Negotiate\r\n", ""));
		let refused = Registry::new(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.is_local(), "{refused}");
		assert!(refused.to_string().contains("`Negotiate` authentication"), "{refused}");
		let forbidden = fake_registry(|_| answer("403 Forbidden", "", ""));
		let (registries, _scratch) = as_p7(&forbidden, "secret");
		let refused = registries.client(&forbidden).unwrap().ping().await.unwrap_err();
		assert!(refused.to_string().contains("refused access with our credentials"), "{refused}");
	}
}

