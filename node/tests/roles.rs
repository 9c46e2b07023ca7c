//! A role that cannot work stops the node at start with the reason: never a silent, idle worker.

mod common;

use common::free_port;
use std::{
	path::{Path, PathBuf},
	process::{Command, Stdio},
	time::{Duration, Instant},
};

const NODE: &str = env!("CARGO_BIN_EXE_modicum-node");

/// A fresh base path, removed when dropped.
struct BasePath(PathBuf);

impl BasePath {
	fn new(name: &str) -> Self {
		let path =
			std::env::temp_dir().join(format!("modicum-roles-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&path);
		std::fs::create_dir_all(&path).unwrap();
		Self(path)
	}

	fn file(&self, name: &str, content: &str) -> String {
		let path = self.0.join(name);
		std::fs::write(&path, content).unwrap();
		path.display().to_string()
	}
}

impl Drop for BasePath {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

fn insert_key(base: &Path, suri: &str) {
	let status = Command::new(NODE)
		.args(["key", "insert", "--chain", "dev", "--key-type", "mdcm", "--scheme", "sr25519"])
		.args(["--suri", suri, "--base-path", base.to_str().unwrap()])
		.status()
		.unwrap();
	assert!(status.success());
}

/// Starts a dev node with `role_args`; it must exit on its own with an error mentioning
/// `expected`.
fn refuses_to_start(base: &Path, role_args: &[&str], expected: &str) {
	let mut child = Command::new(NODE)
		.args(["--dev", "--base-path", base.to_str().unwrap(), "--no-prometheus", "--no-telemetry"])
		.args([
			"--no-mdns",
			"--rpc-port",
			&free_port().to_string(),
			"--port",
			&free_port().to_string(),
		])
		.args(role_args)
		.stdout(Stdio::null())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	let start = Instant::now();
	let status = loop {
		if let Some(status) = child.try_wait().unwrap() {
			break status;
		}
		if start.elapsed() > Duration::from_secs(60) {
			let _ = child.kill();
			panic!("the node kept running with {role_args:?}");
		}
		std::thread::sleep(Duration::from_millis(200));
	};
	let mut stderr = String::new();
	std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
	assert!(!status.success(), "the node exited successfully");
	assert!(stderr.contains(expected), "expected `{expected}` in:\n{stderr}");
}

const MEDIATOR: &str = r#"
architecture = "amd64"
fee = "10 mMDC"
bond = "100 MDC"
trusted_directories = []
base_layers = []

[reference]
url = "http://127.0.0.1:9/reference"
kib = 64
"#;

#[test]
fn a_role_without_its_key_stops_the_node_at_start() {
	let base = BasePath::new("no-key");
	let config = base.file("mediator.toml", MEDIATOR);
	refuses_to_start(&base.0, &["--mediator", &config], "the node keystore has no `mdcm` key");
}

#[test]
fn an_unfunded_role_stops_the_node_at_start() {
	let base = BasePath::new("unfunded");
	insert_key(&base.0, "//NobodyFundedThis");
	let config = base.file("mediator.toml", MEDIATOR);
	refuses_to_start(
		&base.0,
		&["--mediator", &config],
		"can spend 0 but needs 100000000000000 (the bond); fund it first",
	);
}

#[test]
fn a_bond_below_the_chains_least_stops_the_node_at_start() {
	let base = BasePath::new("small-bond");
	insert_key(&base.0, "//Ferdie");
	let config = base.file("mediator.toml", &MEDIATOR.replace("100 MDC", "1 MDC"));
	refuses_to_start(&base.0, &["--mediator", &config], "is below the chain's least bond");
}

#[test]
fn a_typo_in_a_role_file_stops_the_node_at_start() {
	let base = BasePath::new("typo");
	insert_key(&base.0, "//Ferdie");
	let config = base.file("solver.toml", "matches_per_blok = 4\n");
	refuses_to_start(&base.0, &["--solver", &config], "unknown field `matches_per_blok`");
}
