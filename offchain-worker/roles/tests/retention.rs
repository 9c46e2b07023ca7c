//! A directory's retention against a real `docker-registry` (distribution), started here on a
//! port of its own: a closed match's image manifest and result blob are deleted once the
//! retention is over and not before, the image's layers stay, the result is pinned against
//! the registry's garbage collection while the match is open, and a registry refusing deletes
//! keeps the schedule. `scripts/test.sh` runs these (`--ignored`).

use modicum_common::{
	digest::{digest_string, sha256},
	scratch::Scratch,
};
use modicum_registry::{Registry, RegistryError, RESULTS_REPOSITORY};
use modicum_roles::directory::{Collector, Kept, Object, Retention, Seen};
use std::{
	collections::BTreeSet,
	process::{Child, Command, Stdio},
	sync::atomic::{AtomicU16, Ordering},
	time::Duration,
};

const KEEP: u32 = 5;
const REPOSITORY: &str = "jobs/retention";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A `docker-registry` serving a scratch folder; stopped and removed on drop.
struct TestRegistry {
	child: Child,
	config: std::path::PathBuf,
	client: Registry,
	dir: Scratch,
}

impl TestRegistry {
	/// Starts one on the next free port from 5700, with deletes enabled or not.
	async fn start(name: &str, delete: bool) -> Self {
		static NEXT_PORT: AtomicU16 = AtomicU16::new(5700);
		let port = loop {
			let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
			assert!(port < 5900, "no free port for a registry");
			if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
				break port;
			}
		};
		let dir = Scratch::new(name);
		let delete = if delete { "\n  delete:\n    enabled: true" } else { "" };
		let config = dir.0.join("config.yml");
		std::fs::write(
			&config,
			format!(
				"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}/data{delete}\nhttp:\n  addr: 127.0.0.1:{port}\n",
				dir.0.display()
			),
		)
		.unwrap();
		let log = std::fs::File::create(dir.0.join("registry.log")).unwrap();
		let child = Command::new("docker-registry")
			.arg("serve")
			.arg(&config)
			.stdout(log.try_clone().unwrap())
			.stderr(log)
			.spawn()
			.expect("docker-registry is installed (scripts/setup.sh)");
		let client = Registry::new(&format!("http://127.0.0.1:{port}")).unwrap();
		let registry = Self { child, config, client, dir };
		for _ in 0..150 {
			if registry.client.ping().await.is_ok() {
				return registry;
			}
			tokio::time::sleep(Duration::from_millis(200)).await;
		}
		panic!(
			"docker-registry did not start: {}",
			std::fs::read_to_string(registry.dir.0.join("registry.log")).unwrap()
		);
	}

	/// Pushes `bytes` as a blob of `repository`; its digest.
	async fn push_blob(&self, repository: &str, name: &str, bytes: &[u8]) -> [u8; 32] {
		let path = self.dir.0.join(name);
		std::fs::write(&path, bytes).unwrap();
		let digest = sha256(bytes);
		self.client.push_blob_file(repository, &path, &digest).await.unwrap();
		digest
	}

	/// Pushes a one-layer image to `repository`; its manifest's digest and its layer's.
	async fn push_image(&self, repository: &str) -> ([u8; 32], [u8; 32]) {
		let layer_bytes = b"a layer of the job, shared with other images";
		let layer = self.push_blob(repository, "layer", layer_bytes).await;
		let config_bytes = format!(
			r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
			digest_string(&layer)
		);
		let config = self.push_blob(repository, "config", config_bytes.as_bytes()).await;
		let manifest = format!(
			r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
			digest_string(&config),
			config_bytes.len(),
			digest_string(&layer),
			layer_bytes.len()
		);
		let digest = self
			.client
			.push_manifest(repository, OCI_MANIFEST, manifest.into_bytes())
			.await
			.unwrap();
		(digest, layer)
	}

	/// The blobs `registry garbage-collect --dry-run` would delete.
	fn collectable(&self) -> BTreeSet<String> {
		let output = Command::new("docker-registry")
			.args(["garbage-collect", "--dry-run"])
			.arg(&self.config)
			.stderr(Stdio::inherit())
			.output()
			.unwrap();
		assert!(output.status.success(), "garbage-collect --dry-run failed");
		String::from_utf8_lossy(&output.stdout)
			.lines()
			.filter_map(|line| line.strip_prefix("blob eligible for deletion: "))
			.map(str::to_string)
			.collect()
	}
}

impl Drop for TestRegistry {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

/// What block `number` shows: match 1 of this directory, open or not.
fn match_open(image: &Object, result: [u8; 32]) -> Seen {
	let kept = Kept { job_offer: 1, image: Some(image.clone()), result: Some(result), pin: None };
	Seen { matches: [(1, kept)].into(), ..Default::default() }
}

#[tokio::test]
#[ignore = "needs docker-registry: scripts/test.sh runs it"]
async fn a_closed_matchs_image_and_result_are_deleted_after_the_retention_and_its_layers_stay() {
	let registry = TestRegistry::start("retention-delete", true).await;
	let (manifest, layer) = registry.push_image(REPOSITORY).await;
	let result =
		registry.push_blob(RESULTS_REPOSITORY, "result.tar", b"the job's canonical result").await;
	let image = Object::image(REPOSITORY.as_bytes(), manifest).unwrap();
	let (mut retention, mut collector) =
		(Retention::default(), Collector::new(registry.client.clone()));
	let nothing_pending = BTreeSet::new();

	// Open with a result: the result is pinned, so the registry's garbage collection keeps it.
	retention.observe(1, match_open(&image, result), KEEP);
	assert!(
		registry.collectable().contains(&digest_string(&result)),
		"an unpinned result is garbage"
	);
	assert!(collector.pin(&mut retention, 1).await);
	assert!(!registry.collectable().contains(&digest_string(&result)), "a pinned result is kept");

	// Closed at block 2: kept until 2 + KEEP.
	retention.observe(2, Seen::default(), KEEP);
	assert!(!collector.collect(&mut retention, 2 + KEEP - 1, &nothing_pending).await);
	registry
		.client
		.manifest(REPOSITORY, &manifest, 1 << 20)
		.await
		.expect("kept during the retention");
	registry
		.client
		.blob(RESULTS_REPOSITORY, &result, 1 << 20)
		.await
		.expect("kept during the retention");

	assert!(collector.collect(&mut retention, 2 + KEEP, &nothing_pending).await);
	assert!(retention.schedule().is_empty());
	assert!(matches!(
		registry.client.manifest(REPOSITORY, &manifest, 1 << 20).await,
		Err(RegistryError::NotFound(_))
	));
	assert!(matches!(
		registry.client.blob(RESULTS_REPOSITORY, &result, 1 << 20).await,
		Err(RegistryError::NotFound(_))
	));
	// Layers are never deleted through the API: the garbage collection reclaims them once
	// no manifest references them, as it does the result now that its pin is gone.
	registry.client.blob(REPOSITORY, &layer, 1 << 20).await.expect("layers stay");
	let collectable = registry.collectable();
	assert!(collectable.contains(&digest_string(&result)), "{collectable:?}");
	assert!(collectable.contains(&digest_string(&layer)), "{collectable:?}");

	// Deleting again finds nothing (404): done, not an error.
	retention.observe(3, match_open(&image, result), KEEP);
	retention.observe(4, Seen::default(), KEEP);
	assert!(collector.collect(&mut retention, 4 + KEEP, &nothing_pending).await);
	assert!(retention.schedule().is_empty());
}

#[tokio::test]
#[ignore = "needs docker-registry: scripts/test.sh runs it"]
async fn a_registry_refusing_deletes_keeps_the_schedule() {
	let registry = TestRegistry::start("retention-disabled", false).await;
	let (manifest, _) = registry.push_image(REPOSITORY).await;
	let image = Object::image(REPOSITORY.as_bytes(), manifest).unwrap();
	let (mut retention, mut collector) =
		(Retention::default(), Collector::new(registry.client.clone()));
	let offer = Seen { offers: [(7, Some(image.clone()))].into(), ..Default::default() };
	retention.observe(1, offer, KEEP);
	retention.observe(2, Seen::default(), KEEP);
	assert!(!collector.collect(&mut retention, 2 + KEEP, &BTreeSet::new()).await);
	assert_eq!(retention.schedule().len(), 1, "kept until deletes are enabled");
	registry.client.manifest(REPOSITORY, &manifest, 1 << 20).await.expect("still there");
}

#[tokio::test]
#[ignore = "needs docker-registry: scripts/test.sh runs it"]
async fn a_result_a_strangers_closed_match_also_named_survives_while_its_own_match_is_open() {
	let registry = TestRegistry::start("retention-stranger", true).await;
	let (manifest, _) = registry.push_image(REPOSITORY).await;
	let result =
		registry.push_blob(RESULTS_REPOSITORY, "result.tar", b"the victim's canonical result").await;
	let image = Object::image(REPOSITORY.as_bytes(), manifest).unwrap();
	let (mut retention, mut collector) =
		(Retention::default(), Collector::new(registry.client.clone()));
	let nothing_pending = BTreeSet::new();
	let kept = |job_offer| Kept { job_offer, image: Some(image.clone()), result: Some(result), pin: None };

	// A stranger's match (2) names the victim's result digest and closes at block 2, while the
	// victim's own match (1) is matched with no result on chain yet: nothing names the blob.
	let stranger = Seen { matches: [(2, kept(2))].into(), ..Default::default() };
	retention.observe(1, stranger, KEEP);
	let victim_matched = Kept { result: None, ..kept(1) };
	retention.observe(2, Seen { matches: [(1, victim_matched)].into(), ..Default::default() }, KEEP);
	// The victim's result reaches a block: its open match names the blob from then on.
	let victim_posted = Seen { matches: [(1, kept(1))].into(), ..Default::default() };
	retention.observe(3, victim_posted.clone(), KEEP);
	for block in 4..=2 + KEEP + 3 {
		retention.observe(block, victim_posted.clone(), KEEP);
		collector.collect(&mut retention, block, &nothing_pending).await;
	}
	registry
		.client
		.blob(RESULTS_REPOSITORY, &result, 1 << 20)
		.await
		.expect("the stranger's retention passed; the open match keeps the victim's result");

	// Once the victim's match closes, its own retention runs.
	let closed = 2 + KEEP + 4;
	retention.observe(closed, Seen::default(), KEEP);
	assert!(collector.collect(&mut retention, closed + KEEP, &nothing_pending).await);
	assert!(matches!(
		registry.client.blob(RESULTS_REPOSITORY, &result, 1 << 20).await,
		Err(RegistryError::NotFound(_))
	));
}
