//! A directory on another machine: its registry (Debian's `docker-registry`, distribution 2.8)
//! over TLS with a certificate from a throwaway CA made by `openssl`, and HTTP basic auth from
//! an `htpasswd -B` file — what `[[registry]]` entries (`ca_file`, `username`, `password_file`)
//! are for. The last story runs a job from it through the executor, which loads the image into
//! Docker itself (`docker load`): Docker needs no registry settings.
//!
//! `scripts/test.sh` runs them: `cargo test --release --locked -p modicum-executor --test
//! registry -- --ignored --test-threads 1` (Docker, `docker-registry`, `openssl` and `htpasswd`
//! from apache2-utils; the executor's story needs root and the base image
//! `modicum/base:busybox`, which `scripts/services.sh build_base_image` makes).

use modicum_common::digest::Sha256;
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::{RegistryAccess, Registries, RegistryError};
use pallet_market::{Architecture, Digest, Resources, ResultStatus};
use std::{
	net::{TcpListener, TcpStream},
	path::{Path, PathBuf},
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

const USER: &str = "provider-7";
const PASSWORD: &str = "s3cret-of-provider-7";

/// Runs a command to success; its stdout.
fn run(program: &str, args: &[&str]) -> String {
	let output = Command::new(program)
		.args(args)
		.env("DOCKER_BUILDKIT", "0")
		.output()
		.unwrap_or_else(|e| panic!("{program}: {e}"));
	assert!(
		output.status.success(),
		"{program} {args:?}: {}",
		String::from_utf8_lossy(&output.stderr)
	);
	String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A registry over https with basic auth on a port of its own (≥ 5600), in a folder of its own;
/// stopped and removed on drop.
struct Directory {
	dir: PathBuf,
	endpoint: String,
	ca: PathBuf,
	registry: Child,
}

impl Directory {
	fn start(test: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("modicum-registry-{test}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(dir.join("data")).unwrap();
		let path = |name: &str| dir.join(name).display().to_string();
		let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
		run("openssl", &[&["req", "-x509"][..], &ec, &["-keyout", &path("ca.key"), "-out", &path("ca.pem"), "-days", "2", "-subj", "/CN=modicum test CA"]].concat());
		run("openssl", &[&["req"][..], &ec, &["-keyout", &path("server.key"), "-out", &path("server.csr"), "-subj", "/CN=127.0.0.1"]].concat());
		std::fs::write(
			dir.join("server.ext"),
			"subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
		)
		.unwrap();
		run(
			"openssl",
			&["x509", "-req", "-in", &path("server.csr"), "-CA", &path("ca.pem"), "-CAkey", &path("ca.key"), "-CAcreateserial", "-out", &path("server.pem"), "-days", "2", "-extfile", &path("server.ext")],
		);
		run("htpasswd", &["-Bbc", &path("htpasswd"), USER, PASSWORD]);
		let port = free_port();
		let config = format!(
			"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {cert}\n    key: {key}\nauth:\n  htpasswd:\n    realm: modicum-test\n    path: {htpasswd}\n",
			data = path("data"),
			cert = path("server.pem"),
			key = path("server.key"),
			htpasswd = path("htpasswd"),
		);
		std::fs::write(dir.join("config.yml"), config).unwrap();
		let log = std::fs::File::create(dir.join("registry.log")).unwrap();
		let registry = Command::new("docker-registry")
			.args(["serve", &path("config.yml")])
			.stdout(Stdio::from(log.try_clone().unwrap()))
			.stderr(Stdio::from(log))
			.spawn()
			.expect("docker-registry is installed");
		let started = Instant::now();
		while TcpStream::connect(("127.0.0.1", port)).is_err() {
			assert!(started.elapsed() < Duration::from_secs(30), "docker-registry did not start: {}", path("registry.log"));
			std::thread::sleep(Duration::from_millis(100));
		}
		Self { endpoint: format!("https://127.0.0.1:{port}"), ca: dir.join("ca.pem"), dir, registry }
	}

	/// Access to it trusting `ca` (or the system's store), as `user` with `password`.
	fn access(&self, ca: bool, login: Option<(&str, &str)>) -> Registries {
		let password_file = login.map(|(_, password)| {
			let file = self.dir.join(format!("pass-{}", password.len()));
			std::fs::write(&file, format!("{password}\n")).unwrap();
			file
		});
		Registries::load(&[RegistryAccess {
			endpoint: self.endpoint.clone(),
			ca_file: ca.then(|| self.ca.clone()),
			username: login.map(|(user, _)| user.to_string()),
			password_file,
		}])
		.expect("the CA and password files read")
	}

	/// The right CA and the right password.
	fn trusted(&self) -> Registries {
		self.access(true, Some((USER, PASSWORD)))
	}
}

impl Drop for Directory {
	fn drop(&mut self) {
		let _ = self.registry.kill();
		let _ = self.registry.wait();
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

/// A free loopback port from 5600 up, starting at a place of this process's own.
fn free_port() -> u16 {
	let start = 5600 + (std::process::id() % 300) as u16;
	(start..6000).chain(5600..start).find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok()).expect("a free port")
}

/// A `docker save` archive (Docker's layout) of a one-layer image holding `/greeting`.
fn saved_image(dir: &Path) -> PathBuf {
	use sha2::Digest as _;
	let mut layer = tar::Builder::new(Vec::new());
	let mut header = tar::Header::new_ustar();
	header.set_size(6);
	header.set_mode(0o644);
	header.set_cksum();
	layer.append_data(&mut header, "greeting", &b"hello\n"[..]).unwrap();
	let layer = layer.into_inner().unwrap();
	let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
	let config = serde_json::to_vec(&serde_json::json!({
		"architecture": "amd64",
		"os": "linux",
		"config": { "Cmd": ["/bin/sh"] },
		"rootfs": { "type": "layers", "diff_ids": [diff_id] },
	}))
	.unwrap();
	let manifest = serde_json::to_vec(&serde_json::json!([
		{ "Config": "config.json", "RepoTags": ["greeting:latest"], "Layers": ["one/layer.tar"] }
	]))
	.unwrap();
	let path = dir.join("saved.tar");
	let mut archive = tar::Builder::new(std::fs::File::create(&path).unwrap());
	for (name, bytes) in [("one/layer.tar", &layer), ("config.json", &config), ("manifest.json", &manifest)] {
		let mut header = tar::Header::new_ustar();
		header.set_size(bytes.len() as u64);
		header.set_mode(0o644);
		header.set_cksum();
		archive.append_data(&mut header, name, &bytes[..]).unwrap();
	}
	archive.finish().unwrap();
	path
}

fn runtime() -> tokio::runtime::Runtime {
	tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

#[test]
#[ignore = "needs docker-registry, openssl and htpasswd: scripts/test.sh runs it"]
fn a_host_given_the_directory_s_ca_and_password_reads_an_image_over_https() {
	let directory = Directory::start("trusted");
	runtime().block_on(async {
		let registry = directory.trusted().client(&directory.endpoint).unwrap();
		registry.ping().await.unwrap();
		let saved = saved_image(&directory.dir);
		let digest = registry.push_saved_image("jobs/greeting", &saved, &directory.dir.join("push")).await.unwrap();
		// Pushed again, nothing changes: the same compression gives the same digests.
		let again = registry.push_saved_image("jobs/greeting", &saved, &directory.dir.join("push")).await.unwrap();
		assert_eq!(again, digest);
		// Another client, as a provider elsewhere reads it.
		let provider = directory.trusted().client(&directory.endpoint).unwrap();
		let manifest = provider.manifest("jobs/greeting", &digest, 64 << 10).await.unwrap();
		assert_eq!(manifest.layers.len(), 1);
		let config = provider.image_config("jobs/greeting", &manifest, 64 << 10).await.unwrap();
		assert_eq!(config.architecture, "amd64");
	});
}

#[test]
#[ignore = "needs docker-registry, openssl and htpasswd: scripts/test.sh runs it"]
fn a_host_without_the_directory_s_ca_refuses_its_certificate() {
	let directory = Directory::start("untrusted");
	runtime().block_on(async {
		let refused = directory.access(false, Some((USER, PASSWORD))).client(&directory.endpoint).unwrap().ping().await.unwrap_err();
		assert!(matches!(refused, RegistryError::Certificate { .. }), "{refused}");
		assert!(refused.is_local());
		let message = refused.to_string();
		assert!(message.contains("does not trust") && message.contains("ca_file") && message.contains(&directory.endpoint), "{message}");
	});
}

#[test]
#[ignore = "needs docker-registry, openssl and htpasswd: scripts/test.sh runs it"]
fn wrong_or_missing_credentials_are_this_host_s_configuration_not_the_directory_down() {
	let directory = Directory::start("credentials");
	runtime().block_on(async {
		let digest: Digest = [7; 32];
		for (login, says) in [(None, "needs credentials"), (Some((USER, "guessed")), "refused our credentials"), (Some(("intruder", PASSWORD)), "refused our credentials")] {
			let registry = directory.access(true, login).client(&directory.endpoint).unwrap();
			for refused in [registry.ping().await.unwrap_err(), registry.manifest("jobs/greeting", &digest, 64 << 10).await.unwrap_err()] {
				assert!(matches!(refused, RegistryError::Credentials { .. }), "{login:?}: {refused}");
				assert!(refused.is_local(), "{refused}");
				let message = refused.to_string();
				assert!(message.contains(says) && message.contains(&directory.endpoint), "{message}");
			}
		}
	});
}

#[test]
#[ignore = "needs Docker as root, docker-registry, openssl, htpasswd and modicum/base:busybox: scripts/test.sh runs it"]
fn a_job_image_reaches_docker_over_https_with_basic_auth_by_load_never_pull() {
	const BASE: &str = "modicum/base:busybox";
	let directory = Directory::start("executor");
	let base = run("docker", &["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", BASE]);
	let base_layer = base.trim().parse::<Sha256>().expect("the base image is installed").0;
	// A job built on the base, saved and pushed as the CLI does, then gone from this Docker.
	let context = directory.dir.join("context");
	std::fs::create_dir_all(&context).unwrap();
	std::fs::write(context.join("greeting"), "hello from afar\n").unwrap();
	std::fs::write(context.join("Dockerfile"), format!("FROM {BASE}\nCOPY greeting /greeting\nCMD [\"/bin/cat\", \"/greeting\"]\n")).unwrap();
	let tag = format!("modicum-registry-test-{}:latest", std::process::id());
	run("docker", &["build", "-q", "-t", &tag, &context.display().to_string()]);
	let saved = directory.dir.join("job.tar");
	run("docker", &["save", "-o", &saved.display().to_string(), &tag]);
	run("docker", &["image", "rm", &tag]);
	let rt = runtime();
	let registry = directory.trusted().client(&directory.endpoint).unwrap();
	let digest = rt.block_on(registry.push_saved_image("jobs/afar", &saved, &directory.dir.join("push"))).unwrap();
	let manifest = rt.block_on(registry.manifest("jobs/afar", &digest, 64 << 10)).unwrap();
	let job = Job {
		run_id: "afar".into(),
		endpoint: directory.endpoint.clone(),
		repository: "jobs/afar".into(),
		digest,
		base_layer,
		architecture: Architecture::Amd64,
		limits: Resources { cpu: 10_000, memory: 64, storage: 8, bandwidth: 4_096 },
		cpu_rate: 1.0,
		cores: 1,
		wall_limit: Duration::from_secs(120),
		fetch_limit: Duration::from_secs(60),
	};
	let work = directory.dir.join("work");
	let namespace = format!("registry-test-{}", std::process::id());
	let executor = rt.block_on(Executor::connect(work.join("runs"), &namespace)).expect("the executor connects on this host");
	let (_cancel, cancelled) = tokio::sync::watch::channel(false);

	// Without the password: this host's failure, no result for the job.
	let anonymous = executor.clone().with_registries(directory.access(true, None));
	let refused = rt.block_on(anonymous.execute(&job, &work.join("refused.tar"), cancelled.clone())).unwrap_err();
	assert!(matches!(refused, ExecutorError::Load { .. }), "{refused}");
	assert!(refused.to_string().contains("needs credentials"), "{refused}");

	let executor = executor.with_registries(directory.trusted());
	let archive = work.join("afar.tar");
	let execution = rt.block_on(executor.execute(&job, &archive, cancelled)).expect("the executor itself does not fail");
	assert_eq!(execution.status, ResultStatus::Completed, "{execution:?}");
	let mut stdout = String::new();
	for entry in tar::Archive::new(std::fs::File::open(&archive).unwrap()).entries().unwrap() {
		let mut entry = entry.unwrap();
		if entry.path().unwrap().as_os_str() == "stdout" {
			std::io::Read::read_to_string(&mut entry, &mut stdout).unwrap();
		}
	}
	assert_eq!(stdout, "hello from afar\n");
	// The bandwidth counts the job's layer as the registry serves it, the base's never.
	let layer_bytes: u64 = manifest.layers[1..].iter().map(|layer| layer.size).sum();
	assert_eq!(execution.usage.bandwidth, layer_bytes.div_ceil(1024) + execution.archive.as_ref().unwrap().size.div_ceil(1024));
	// The loaded image and its archive are gone with the run, under whatever name it was
	// loaded: Docker knows no image whose ID is the job's config. The base stays.
	let image_id = &manifest.config.digest;
	assert!(!Command::new("docker").args(["image", "inspect", image_id]).output().unwrap().status.success(), "the job's image {image_id} was removed");
	assert!(!work.join("runs/afar").exists(), "nothing of the run is left");
	run("docker", &["image", "inspect", BASE]);
}
