//! `https://` price sources, read through the registry client's connector: a real TLS server on
//! loopback (rustls) with a certificate from a throwaway CA made by `openssl`, as the registry
//! tests make theirs (`openssl` is a prerequisite of `scripts/setup.sh`; no Docker, no registry).

use super::*;
use std::{
	io::{Read, Write},
	path::PathBuf,
	sync::Mutex as SyncMutex,
};

/// Runs `openssl` to success.
fn openssl(args: &[&str]) {
	let output = std::process::Command::new("openssl")
		.args(args)
		.output()
		.expect("openssl is installed (scripts/setup.sh)");
	assert!(
		output.status.success(),
		"openssl {args:?}: {}",
		String::from_utf8_lossy(&output.stderr)
	);
}

/// A throwaway CA and a certificate it signed for 127.0.0.1, in `dir`: (CA, certificate, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
	let path = |name: &str| dir.join(name).display().to_string();
	let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
	openssl(
		&[
			&["req", "-x509"][..],
			&ec,
			&[
				"-keyout",
				&path("ca.key"),
				"-out",
				&path("ca.pem"),
				"-days",
				"2",
				"-subj",
				"/CN=modicum test CA",
			],
		]
		.concat(),
	);
	openssl(
		&[
			&["req"][..],
			&ec,
			&[
				"-keyout",
				&path("server.key"),
				"-out",
				&path("server.csr"),
				"-subj",
				"/CN=127.0.0.1",
			],
		]
		.concat(),
	);
	write(
		&dir.join("server.ext"),
		"subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
	);
	openssl(&[
		"x509",
		"-req",
		"-in",
		&path("server.csr"),
		"-CA",
		&path("ca.pem"),
		"-CAkey",
		&path("ca.key"),
		"-CAcreateserial",
		"-out",
		&path("server.pem"),
		"-days",
		"2",
		"-extfile",
		&path("server.ext"),
	]);
	(dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

/// An https server on loopback presenting `certificate`, answering every request with 200 and
/// what `body` holds; its URL. A client that refuses the certificate ends its connection.
fn serve_tls(certificate: &Path, key: &Path, body: Arc<SyncMutex<Vec<u8>>>) -> String {
	use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
	let read = |path: &Path| std::fs::read(path).expect("made by openssl");
	let chain = vec![CertificateDer::from_pem_slice(&read(certificate)).expect("a certificate")];
	let key = PrivateKeyDer::from_pem_slice(&read(key)).expect("a private key");
	let provider = Arc::new(rustls::crypto::ring::default_provider());
	let config = rustls::ServerConfig::builder_with_provider(provider)
		.with_safe_default_protocol_versions()
		.expect("ring supports TLS 1.2 and 1.3")
		.with_no_client_auth()
		.with_single_cert(chain, key)
		.expect("the key fits the certificate");
	let config = Arc::new(config);
	let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
	let port = listener.local_addr().expect("bound").port();
	std::thread::spawn(move || {
		for tcp in listener.incoming() {
			let Ok(tcp) = tcp else { continue };
			let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
			let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { continue };
			let mut tls = rustls::StreamOwned::new(connection, tcp);
			// The handshake happens within the first read.
			let mut request = Vec::new();
			let mut buffer = [0u8; 1024];
			while !request.windows(4).any(|w| w == b"\r\n\r\n") {
				match tls.read(&mut buffer) {
					Ok(0) | Err(_) => break,
					Ok(n) => request.extend_from_slice(&buffer[..n]),
				}
			}
			if !request.windows(4).any(|w| w == b"\r\n\r\n") {
				continue;
			}
			let body = body.lock().unwrap_or_else(|e| e.into_inner()).clone();
			let head = format!(
				"HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
				body.len()
			);
			let _ = tls.write_all(head.as_bytes());
			let _ = tls.write_all(&body);
			tls.conn.send_close_notify();
			let _ = tls.flush();
		}
	});
	format!("https://127.0.0.1:{port}/electricity-price")
}

#[tokio::test]
async fn an_https_price_source_is_read_through_the_registry_tls_client() {
	let scratch = Scratch::new("pricing-https");
	let (ca, certificate, key) = certificates(&scratch.0);
	let body = Arc::new(SyncMutex::new(b"100 MDC\n".to_vec()));
	let url = serve_tls(&certificate, &key, body.clone());
	let origin = url.trim_end_matches("/electricity-price");
	let t0 = Instant::now();

	// Its CA given as a directory's registry's is, by a [[registry]] entry for its origin: the
	// price is read and believed. No credentials are configured, none would be sent.
	let entry =
		format!("\n[[registry]]\nendpoint = \"{origin}\"\nca_file = \"{}\"\n", ca.display());
	let (mut pricing, registry) = measured(&electricity(&url, &entry));
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));
	assert_eq!(metric(&registry, "modicum_provider_electricity_price", None), 100e12);

	// A stranger's server sending more than a price: the read stops at the cap, the last good
	// price stays.
	*body.lock().unwrap_or_else(|e| e.into_inner()) = vec![b'1'; 1 << 20];
	let error = terms(&mut pricing).refresh(t0 + 2 * S).await.expect_err("too large");
	assert!(matches!(error, PricingError::TooLarge { .. }), "{error}");
	assert!(error.to_string().contains(&url), "{error}");
	assert_eq!(pricing.quote(t0 + 3 * S, &[]).await, ask(1_200_000, MICRO_MDC));

	// Without that CA the server's certificate is not trusted: nothing is read.
	*body.lock().unwrap_or_else(|e| e.into_inner()) = b"100 MDC\n".to_vec();
	let mut untrusting = self::pricing(&electricity(&url, ""));
	let error = terms(&mut untrusting).refresh(t0).await.expect_err("an unknown CA");
	assert!(
		matches!(error, PricingError::Unreadable { .. })
			&& error.to_string().contains("certificate"),
		"{error}"
	);
	assert_eq!(untrusting.quote(t0, &[]).await, Quote::Withdraw { reason: Unpriced::NeverRead });
	// Nor is a CA configured for another origin.
	let elsewhere = format!(
		"\n[[registry]]\nendpoint = \"https://localhost:1\"\nca_file = \"{}\"\n",
		ca.display()
	);
	let mut misplaced = self::pricing(&electricity(&url, &elsewhere));
	let error = terms(&mut misplaced).refresh(t0).await.expect_err("the CA is another origin's");
	assert!(error.to_string().contains("certificate"), "{error}");
}
