//! The executor: runs one job in Docker under the hardened profile, meters it in a cgroup of its
//! own, and turns every way a run can end into a result status, usage and canonical archive
//! (PROTOCOL.md, "Jobs"). Providers, mediators and job-creator verifiers run jobs through the
//! same code with bounds taken from the match's terms alone, so honest runs on different hosts
//! agree. What a run creates (container, tmpfs, cgroup, loaded image) is removed by a guard on
//! every path, and named after the chain, account and role so two chains or nodes sharing a
//! Docker engine never touch each other's runs.

pub mod archive;
mod cgroup;
mod cores;
pub mod image;
mod load;

use bollard::{
	container::LogOutput,
	models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits},
	query_parameters::{
		AttachContainerOptions, CreateContainerOptions, KillContainerOptions,
		ListContainersOptions, RemoveContainerOptions, RemoveImageOptions,
	},
	Docker,
};
use cgroup::{Layout, RunCgroup};
use cores::{CorePool, Cores};
use futures::{Stream, StreamExt};
use image::Image;
use modicum_runtime::{Runtime, MILLI_SECS_PER_BLOCK};
use pallet_market::{Architecture, Digest, MatchOf, Resources, ResultStatus};
use std::{
	collections::{BTreeSet, HashMap},
	future::Future,
	path::{Path, PathBuf},
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};
use tokio::sync::watch;

/// Who runs the job inside the container: `nobody`, never root.
const JOB_USER: &str = "65534:65534";

/// The hostname every job sees, whatever host runs it.
const JOB_HOSTNAME: &str = "job";

/// The most processes a job may have; a fork bomb stops here.
const PIDS_LIMIT: i64 = 64;

/// The most files a job may hold open.
const NOFILE_LIMIT: i64 = 1024;

/// The most bytes of stdout and of stderr kept in the result archive (PROTOCOL.md's `LogCap`).
pub const LOG_LIMIT: usize = 1 << 20;

/// The most entries a job may create under `/out` and `/tmp` together; the kernel refuses more.
pub const MAX_ENTRIES: u64 = 65_536;

/// How far the kernel lets a job's files go past its storage limit: reaching the kernel's
/// bound (tmpfs full, file-size limit, out of inodes) always means exceeding the limit, so the
/// status is `StorageExceeded` on every host, never a failure the job chose.
const STORAGE_OVERSHOOT: u64 = 64 << 10;

/// Docker's least memory limit for a container.
const DOCKER_MIN_MEMORY: u64 = 6 * MIB;

/// How long a Docker call other than an image load may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long loading an image into Docker may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// How often an image check is tried while the directory does not answer, and the first pause.
const CHECK_ATTEMPTS: u32 = 4;
const CHECK_RETRY: Duration = Duration::from_secs(5);

/// How often the watchdog reads the cgroup's CPU time.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(50);

const MIB: u64 = 1 << 20;

/// A job to run: the match's terms as the executor needs them.
#[derive(Clone, Debug)]
pub struct Job {
	/// Names the container, cgroup and work directory (`match-7`, `match-7-m1`).
	pub run_id: String,
	/// The directory's registry URL.
	pub endpoint: String,
	/// Repository of the image.
	pub repository: String,
	/// Manifest digest of the image.
	pub digest: Digest,
	/// The base layer's uncompressed `diff_id`.
	pub base_layer: Digest,
	/// The image's architecture.
	pub architecture: Architecture,
	/// The job's limits.
	pub limits: Resources,
	/// CPUs the job may use at once.
	pub cpu_rate: f64,
	/// Cores the job sees (its CPU affinity), whatever the host has.
	pub cores: usize,
	/// Wall time after which the job is killed.
	pub wall_limit: Duration,
}

impl Job {
	/// The job of a match, bounded by the match's terms alone (PROTOCOL.md, "Result"): its CPU
	/// limit at the reference machine's rate (`ReferenceSpeed` per block) as the CPU quota, as
	/// many cores as that rate needs, and R blocks of wall time. Never the host's core count or
	/// the provider's speed: runs on any host end with the same status.
	pub fn for_match(
		run_id: String,
		terms: &MatchOf<Runtime>,
		endpoint: String,
		architecture: Architecture,
	) -> Self {
		let reference = u64::from(terms.parameters.reference_speed.max(1));
		// R was fixed from the same limits; a reference speed changed since cannot make the
		// quota slower than R allows.
		let cpu_blocks = terms
			.limits
			.cpu
			.div_ceil(reference)
			.clamp(1, u64::from(terms.run_length.max(1)));
		let cpu_rate = (terms.limits.cpu as f64
			/ (cpu_blocks.saturating_mul(MILLI_SECS_PER_BLOCK)) as f64)
			.max(0.01);
		Self {
			run_id,
			endpoint,
			repository: String::from_utf8_lossy(&terms.image.repository).into_owned(),
			digest: terms.image.digest,
			base_layer: terms.base_layer,
			architecture,
			limits: terms.limits,
			cpu_rate,
			cores: cpu_rate.ceil() as usize,
			// One block of grace for start-up: a job using its whole cpu limit at the quota's
			// rate ends by its cpu, never racing the wall time.
			wall_limit: Duration::from_millis(
				u64::from(terms.run_length.saturating_add(1)).saturating_mul(MILLI_SECS_PER_BLOCK),
			),
		}
	}
}

/// The result archive of a run, written to the file the caller named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveFile {
	/// Where it is.
	pub path: PathBuf,
	/// Its size in bytes.
	pub size: u64,
	/// Its sha256: the result digest.
	pub digest: Digest,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
	/// The status to post.
	pub status: ResultStatus,
	/// What the run used.
	pub usage: Resources,
	/// The canonical result archive, when the container started.
	pub archive: Option<ArchiveFile>,
	/// Wall time of the container.
	pub wall: Duration,
}

impl Execution {
	fn refused(status: ResultStatus, usage: Resources) -> Self {
		Self { status, usage, archive: None, wall: Duration::ZERO }
	}
}

/// A failure of the executor's own machinery (Docker or the host), never of the job: the run
/// gives no result, and a provider or mediator tries again.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
	/// The Docker engine refused or failed a call.
	#[error("docker {call}: {message}")]
	Docker {
		/// The call.
		call: &'static str,
		/// Docker's answer.
		message: String,
	},
	/// A Docker call timed out.
	#[error("docker {0} timed out")]
	Timeout(&'static str),
	/// The image the executor checked could not be fetched as configured (this host's
	/// credentials or trusted CAs) or loaded into Docker.
	#[error("loading {reference}: {message}")]
	Load {
		/// The image.
		reference: String,
		/// Docker's answer.
		message: String,
	},
	/// The host refused a file, mount or cgroup operation (disk full, …).
	#[error("{what}: {source}")]
	Host {
		/// What was being done.
		what: &'static str,
		/// The cause.
		source: std::io::Error,
	},
	/// The job's memory and storage are beyond what this host can give.
	#[error("the job's memory and storage limits are beyond this host")]
	Capacity,
	/// The host cannot give the job the cores its terms need.
	#[error("the job needs {needed} cores and this executor may use {available}")]
	Cores {
		/// Cores the job's terms need.
		needed: usize,
		/// Cores this executor may use.
		available: usize,
	},
	/// The run was cancelled (its match closed or moved on).
	#[error("run cancelled")]
	Cancelled,
}

fn host(what: &'static str) -> impl FnOnce(std::io::Error) -> ExecutorError {
	move |source| ExecutorError::Host { what, source }
}

/// Runs one Docker call with a timeout.
async fn docker_call<T>(
	call: &'static str,
	limit: Duration,
	future: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, ExecutorError> {
	tokio::time::timeout(limit, future)
		.await
		.map_err(|_| ExecutorError::Timeout(call))?
		.map_err(|e| ExecutorError::Docker { call, message: e.to_string() })
}

/// Runs jobs in the local Docker engine.
#[derive(Clone)]
pub struct Executor {
	docker: Docker,
	work_dir: PathBuf,
	/// `modicum-<chain>-<account>-<role>`: prefixes every container and cgroup of this executor.
	prefix: String,
	/// Host cores this executor pins runs to, each run its own.
	cores: Arc<CorePool>,
	/// The host's cgroup tree and Docker's driver in it.
	layout: Layout,
	/// Images loaded for runs, with how many runs use each now.
	images: Arc<Mutex<HashMap<String, usize>>>,
	/// The CA and credentials of directories' registries, which images are fetched from.
	registries: crate::registry::Registries,
	/// Held while an image is loaded or removed: a run's load never meets another's removal
	/// of the same image.
	image_turn: Arc<tokio::sync::Mutex<()>>,
}

impl Executor {
	/// Connects to the local engine, negotiating the API version (Docker 20.10 speaks 1.41),
	/// checks the host can meter runs in cgroups (v1 or v2, as its Docker uses them), and
	/// removes what an earlier process of this executor's namespace (`<chain>-<account>-<role>`)
	/// left behind.
	pub async fn connect(work_dir: PathBuf, namespace: &str) -> Result<Self, ExecutorError> {
		if !rustix::process::geteuid().is_root() {
			// Found now, not at the first job: a run that fails on the host ends in `Declined`.
			return Err(ExecutorError::Host {
				what: "privileges",
				source: std::io::Error::other("the executor runs as root: it mounts each run's tmpfs and makes its cgroup"),
			});
		}
		let docker = Docker::connect_with_unix_defaults()
			.map_err(|e| ExecutorError::Docker { call: "connect", message: e.to_string() })?;
		let docker =
			docker_call("version negotiation", DOCKER_TIMEOUT, docker.negotiate_version()).await?;
		let info = docker_call("info", DOCKER_TIMEOUT, docker.info()).await?;
		let driver = info.cgroup_driver.map(|d| d.to_string()).unwrap_or_else(|| "cgroupfs".into());
		let version = info.cgroup_version.map(|v| v.to_string()).unwrap_or_else(|| "1".into());
		let layout = Layout::detect(&driver, &version).await?;
		tracing::debug!(?layout, driver, version, "cgroups");
		std::fs::create_dir_all(&work_dir).map_err(host("work directory"))?;
		let cores = allowed_cores().map_err(host("CPU affinity"))?;
		let executor = Self {
			docker,
			work_dir,
			prefix: format!("modicum-{namespace}"),
			cores: CorePool::new(&cores),
			layout,
			images: Default::default(),
			image_turn: Default::default(),
			registries: Default::default(),
		};
		executor.clean_leftovers().await?;
		Ok(executor)
	}

	/// The same executor pinning jobs only to `cores` (a host with fewer CPUs).
	pub fn with_cores(mut self, cores: Vec<usize>) -> Self {
		self.cores = CorePool::new(&cores);
		self
	}

	/// The same executor reaching directories' registries with `registries` (`[[registry]]`).
	pub fn with_registries(mut self, registries: crate::registry::Registries) -> Self {
		self.registries = registries;
		self
	}

	/// How this executor reaches directories' registries.
	pub fn registries(&self) -> &crate::registry::Registries {
		&self.registries
	}

	/// How many host cores this executor pins runs to.
	pub fn cores(&self) -> usize {
		self.cores.total()
	}

	/// The container and cgroup name of a run.
	fn name(&self, run_id: &str) -> String {
		format!("{}-{run_id}", self.prefix)
	}

	async fn clean_leftovers(&self) -> Result<(), ExecutorError> {
		let prefix = format!("{}-", self.prefix);
		let options = ListContainersOptions {
			all: true,
			filters: Some(HashMap::from([("name".to_string(), vec![prefix.clone()])])),
			..Default::default()
		};
		let containers =
			docker_call("list", DOCKER_TIMEOUT, self.docker.list_containers(Some(options))).await?;
		// Docker's name filter matches anywhere in the name: keep only this prefix's.
		let mut runs: BTreeSet<String> = containers
			.iter()
			.flat_map(|c| c.names.iter().flatten())
			.filter_map(|name| name.trim_start_matches('/').strip_prefix(&prefix))
			.map(String::from)
			.collect();
		let dirs = std::fs::read_dir(&self.work_dir).map_err(host("work directory"))?;
		runs.extend(dirs.flatten().map(|dir| dir.file_name().to_string_lossy().into_owned()));
		runs.extend(self.layout.leftovers(&prefix));
		for run in runs {
			tracing::info!(run, "removing a run left by an earlier process");
			self.discard(&run).await;
		}
		Ok(())
	}

	/// Runs `job` once, writing its archive to `archive_to`. A job that fails is an `Ok` with
	/// its status; `Err` is the executor's own failure or a cancellation (`cancel` turning
	/// true). Nothing of the run but the archive is left behind, on any path.
	pub async fn execute(
		&self,
		job: &Job,
		archive_to: &Path,
		mut cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let memory = memory_limit(&job.limits).ok_or(ExecutorError::Capacity)?;
		if memory < DOCKER_MIN_MEMORY {
			return Ok(Execution::refused(ResultStatus::JobDescriptionError, Resources::default()));
		}
		if job.cores > self.cores.total() {
			return Err(ExecutorError::Cores { needed: job.cores, available: self.cores.total() });
		}
		let mut guard = RunGuard::new(self.clone(), &job.run_id);
		// Checking and fetching wait on the directory: a cancel ends them at once.
		let prepared = tokio::select! {
			prepared = self.prepare(job, &mut guard) => prepared?,
			Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(ExecutorError::Cancelled),
		};
		let image = match prepared {
			Ok(image) => image,
			Err(refused) => {
				tracing::info!(run = %job.run_id, status = ?refused.status, "job refused before running");
				let usage = Resources { bandwidth: refused.layer_kib, ..Default::default() };
				return Ok(Execution::refused(refused.status, usage));
			}
		};
		// Cores of its own: a run beside others (slots, confirming runs) waits for them.
		let cores = tokio::select! {
			cores = self.cores.take(job.cores) => cores.ok_or(ExecutorError::Cores { needed: job.cores, available: self.cores.total() })?,
			Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(ExecutorError::Cancelled),
		};
		// The cores go back only once the container is gone, on every path: the guard holds
		// them, a dropped run's too.
		let cores = guard.cores.insert(cores);
		let result = self.run(job, &image, cores, archive_to, cancel).await;
		guard.release().await;
		result
	}

	/// Checks the image (trying again while the directory does not answer, so a blip is not
	/// reported as its outage) and loads the layers the check fetched into Docker;
	/// `Ok(Err(_))` is the status that ends the job. This host's own failure to read the
	/// directory (its credentials, its trusted CAs) is an `Err`: never the job's status.
	async fn prepare(
		&self,
		job: &Job,
		guard: &mut RunGuard,
	) -> Result<Result<Image, image::Refused>, ExecutorError> {
		// What an earlier attempt of this run left goes first: the check writes the image's
		// archive into the run's directory.
		self.discard(&job.run_id).await;
		let keep = image::Keep {
			path: self.work_dir.join(&job.run_id).join("image.tar"),
			// Named after the executor and the manifest: runs of one image share it, other
			// executors never see it.
			tag: format!("{}/job:{}", self.prefix.to_ascii_lowercase(), hex::encode(job.digest)),
		};
		let check = || image::check(job, &self.registries, Some(&keep));
		let mut pause = CHECK_RETRY;
		let mut checked = check().await?;
		for _ in 1..CHECK_ATTEMPTS {
			match &checked {
				Err(refused) if refused.status == ResultStatus::DirectoryUnavailable => {
					tracing::warn!(run = %job.run_id, retry_in_s = pause.as_secs(), "the directory does not answer; checking the image again");
					tokio::time::sleep(pause).await;
					pause *= 2;
					checked = check().await?;
				}
				_ => break,
			}
		}
		let Ok(image) = checked else { return Ok(checked) };
		guard.image = Some(self.load(&keep, &crate::config::digest_string(&job.base_layer)).await?);
		// Docker's own reading of the config decides: a config written to read one way to
		// the check and another to Docker (duplicate keys, …) is refused here.
		let inspect =
			docker_call("image inspect", DOCKER_TIMEOUT, self.docker.inspect_image(&image.reference))
				.await?;
		if let Some(why) =
			image::refused_by_docker(&inspect).or_else(|| image::loaded_otherwise(&inspect, &image))
		{
			tracing::info!(run = %job.run_id, why, "image refused as Docker reads it");
			return Ok(Err(ResultStatus::JobDescriptionError.into()));
		}
		Ok(Ok(image))
	}

	/// Checks a job's image at its directory as a run would, without loading it. This host's
	/// own failure to read the directory is logged and answered `DirectoryUnavailable`: for
	/// the mediator, nothing measured, tried again.
	pub async fn check_image(&self, job: &Job) -> Result<Image, image::Refused> {
		image::check(job, &self.registries, None).await.unwrap_or_else(|e| {
			tracing::error!(run = %job.run_id, error = %e, "this host cannot read the directory as configured");
			Err(ResultStatus::DirectoryUnavailable.into())
		})
	}

	/// Loads the image the check kept in `keep` unless Docker has it under its name already;
	/// records the run's use of it. The archive is removed either way.
	async fn load(&self, keep: &image::Keep, base_layer: &str) -> Result<String, ExecutorError> {
		let _turn = self.image_turn.lock().await;
		let reference = keep.tag.clone();
		let inspect = tokio::time::timeout(DOCKER_TIMEOUT, self.docker.inspect_image(&reference));
		let present = match inspect.await {
			Err(_) => Err(ExecutorError::Timeout("image inspect")),
			Ok(Ok(_)) => Ok(true),
			Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
				Ok(false)
			}
			Ok(Err(e)) => Err(ExecutorError::Docker { call: "image inspect", message: e.to_string() }),
		};
		let loaded = match present {
			Ok(false) => load::load(&self.docker, &keep.path, base_layer).await,
			other => other.map(|_| ()),
		};
		let _ = std::fs::remove_file(&keep.path);
		loaded?;
		// Names under this executor's prefix are its own, an earlier process's leftover
		// included: counted, and removed when no run needs them.
		*self.images.lock().unwrap_or_else(|e| e.into_inner()).entry(reference.clone()).or_default() +=
			1;
		Ok(reference)
	}

	/// Ends a run's use of an image, removing it when no run of this executor needs it.
	async fn release_image(&self, reference: &str) {
		let _turn = self.image_turn.lock().await;
		let unused = {
			let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
			match images.get_mut(reference) {
				Some(users) if *users > 1 => {
					*users -= 1;
					false
				}
				Some(_) => {
					images.remove(reference);
					true
				}
				None => false,
			}
		};
		if unused {
			let options = RemoveImageOptions { force: false, noprune: false, ..Default::default() };
			if let Err(e) = docker_call(
				"image remove",
				DOCKER_TIMEOUT,
				self.docker.remove_image(reference, Some(options), None),
			)
			.await
			{
				tracing::debug!(reference, error = %e, "image kept");
			}
		}
	}

	async fn run(
		&self,
		job: &Job,
		image: &Image,
		cores: &Cores,
		archive_to: &Path,
		cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let run_dir = self.work_dir.join(&job.run_id);
		let storage_bytes = job.limits.storage.checked_mul(MIB).ok_or(ExecutorError::Capacity)?;
		let (out_dir, tmp_dir) = mount_run_fs(&run_dir, storage_bytes).await?;
		let cgroup =
			RunCgroup::create(self.layout, &self.name(&job.run_id)).await.map_err(host("cgroup"))?;
		let container = self.name(&job.run_id);
		let ulimit = |name: &str, value: i64| ResourcesUlimits {
			name: Some(name.into()),
			soft: Some(value),
			hard: Some(value),
		};
		let memory = memory_limit(&job.limits).ok_or(ExecutorError::Capacity)? as i64;
		let config = ContainerCreateBody {
			image: Some(image.reference.clone()),
			user: Some(JOB_USER.into()),
			hostname: Some(JOB_HOSTNAME.into()),
			domainname: Some(String::new()),
			network_disabled: Some(true),
			attach_stdout: Some(true),
			attach_stderr: Some(true),
			// Whatever the image says, no command of its own runs beside the job.
			healthcheck: Some(bollard::models::HealthConfig {
				test: Some(vec!["NONE".into()]),
				..Default::default()
			}),
			host_config: Some(HostConfig {
				network_mode: Some("none".into()),
				readonly_rootfs: Some(true),
				cap_drop: Some(vec!["ALL".into()]),
				security_opt: Some(vec!["no-new-privileges".into()]),
				pids_limit: Some(PIDS_LIMIT),
				// tmpfs pages are charged to the container: memory covers memory + storage.
				memory: Some(memory),
				memory_swap: Some(memory),
				nano_cpus: Some((job.cpu_rate * 1e9) as i64),
				cpuset_cpus: Some(cores.cpuset()),
				cgroup_parent: Some(cgroup.parent()),
				ulimits: Some(vec![
					ulimit("nofile", NOFILE_LIMIT),
					ulimit("fsize", (storage_bytes + STORAGE_OVERSHOOT) as i64),
				]),
				// Logs are read from the attached streams: nothing of them reaches the host's disk.
				log_config: Some(HostConfigLogConfig {
					typ: Some("none".into()),
					config: Some(HashMap::new()),
				}),
				ipc_mode: Some("private".into()),
				shm_size: Some(MIB as i64),
				binds: Some(vec![
					format!("{}:/out:rw", out_dir.display()),
					format!("{}:/tmp:rw", tmp_dir.display()),
				]),
				..Default::default()
			}),
			..Default::default()
		};
		let create = CreateContainerOptions { name: Some(container.clone()), ..Default::default() };
		docker_call(
			"container create",
			DOCKER_TIMEOUT,
			self.docker.create_container(Some(create), config),
		)
		.await?;
		let attach = AttachContainerOptions {
			stdout: true,
			stderr: true,
			stream: true,
			..Default::default()
		};
		let output = docker_call(
			"attach",
			DOCKER_TIMEOUT,
			self.docker.attach_container(&container, Some(attach)),
		)
		.await?
		.output;
		let started = Instant::now();
		let start = self.docker.start_container(&container, None);
		match tokio::time::timeout(DOCKER_TIMEOUT, start).await {
			Ok(Ok(())) => {}
			// Docker answers 400 for what the image asks and cannot be (no such executable,
			// not executable, …): the job's doing, the same on every host.
			Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 400, message })) => {
				tracing::info!(run = %job.run_id, message, "the image's container cannot start");
				return Ok(Execution::refused(ResultStatus::JobDescriptionError, Resources::default()));
			}
			Ok(Err(e)) => {
				return Err(ExecutorError::Docker { call: "container start", message: e.to_string() })
			}
			Err(_) => return Err(ExecutorError::Timeout("container start")),
		}
		tracing::debug!(run = %job.run_id, "container started");

		let mut logs = Logs::default();
		let ending = self.watch(job, &container, &cgroup, output, &mut logs, cancel).await?;
		let wall = started.elapsed();
		let inspect =
			docker_call("inspect", DOCKER_TIMEOUT, self.docker.inspect_container(&container, None))
				.await?;
		let state = inspect.state.unwrap_or_default();
		if state.running == Some(true) {
			// The wait ended without an exit (the engine's connection broke): not the job's end.
			return Err(ExecutorError::Docker { call: "wait", message: "ended while the container runs".into() });
		}
		let exit_code = state.exit_code;
		let cpu = cgroup.cpu_ms().map_err(host("cpu time"))?;
		let peak = cgroup.peak_memory(memory as u64).map_err(host("peak memory"))?;
		let oom_killed =
			state.oom_killed == Some(true) || cgroup.oom_killed().map_err(host("OOM kills"))?;

		// Measuring and archiving read what the job wrote: off the async runtime.
		let archive_cap =
			job.limits.bandwidth.saturating_sub(image.layer_kib).saturating_mul(1024);
		let (out, tmp, dest) = (out_dir.clone(), tmp_dir.clone(), archive_to.to_path_buf());
		let (stored, archive, archive_fits) = tokio::task::spawn_blocking(move || {
			let stored = archive::stored_bytes(&[&out, &tmp], storage_bytes)?;
			let over_storage = !matches!(stored, Ok(bytes) if bytes <= storage_bytes);
			let full = (!over_storage)
				.then(|| archive::write_archive(Some(&out), &logs.stdout, &logs.stderr, &dest, archive_cap))
				.transpose()?
				.flatten();
			let fits = full.is_some() || over_storage;
			// Beyond storage or bandwidth, the archive keeps the logs only.
			let archive = match full {
				Some(written) => written,
				None => archive::write_archive(None, &logs.stdout, &logs.stderr, &dest, u64::MAX)?
					.ok_or_else(|| std::io::Error::other("an uncapped archive was refused"))?,
			};
			Ok::<_, std::io::Error>((stored, archive, fits))
		})
		.await
		.map_err(|e| ExecutorError::Host { what: "archiving", source: std::io::Error::other(e) })?
		.map_err(host("result archive"))?;
		let over_storage = !matches!(stored, Ok(bytes) if bytes <= storage_bytes);
		let usage = Resources {
			cpu,
			memory: peak.div_ceil(MIB),
			storage: match stored {
				Ok(bytes) => bytes.div_ceil(MIB),
				Err(archive::TooDeep) => job.limits.storage.saturating_add(1),
			},
			bandwidth: image.layer_kib + archive.size.div_ceil(1024),
		};
		let status = match ending {
			Ending::CpuLimit => ResultStatus::CpuExceeded,
			_ if cpu > job.limits.cpu => ResultStatus::CpuExceeded,
			_ if oom_killed => ResultStatus::MemoryExceeded,
			_ if over_storage => ResultStatus::StorageExceeded,
			_ if !archive_fits => ResultStatus::BandwidthExceeded,
			Ending::WallLimit => ResultStatus::ExceptionOccurred,
			Ending::Exited if exit_code != Some(0) => ResultStatus::ExceptionOccurred,
			Ending::Exited => ResultStatus::Completed,
		};
		tracing::info!(
			run = %job.run_id, ?status, ?exit_code, cpu_ms = usage.cpu, memory_mib = usage.memory,
			storage_mib = usage.storage, bandwidth_kib = usage.bandwidth, wall_ms = wall.as_millis() as u64,
			"job ended"
		);
		let archive =
			ArchiveFile { path: archive_to.to_path_buf(), size: archive.size, digest: archive.digest };
		Ok(Execution { status, usage, archive: Some(archive), wall })
	}

	/// Waits for the container to exit while keeping the first [`LOG_LIMIT`] bytes of its
	/// output, killing it when its cgroup's CPU time passes the limit (`--cpus` only caps a
	/// rate), the wall-time bound passes, or the run is cancelled.
	async fn watch(
		&self,
		job: &Job,
		container: &str,
		cgroup: &RunCgroup,
		output: impl Stream<Item = Result<LogOutput, bollard::errors::Error>>,
		logs: &mut Logs,
		mut cancel: watch::Receiver<bool>,
	) -> Result<Ending, ExecutorError> {
		let wait = self.docker.wait_container(container, None);
		futures::pin_mut!(wait, output);
		let deadline = tokio::time::sleep(job.wall_limit);
		tokio::pin!(deadline);
		let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
		let mut output_open = true;
		let ending = loop {
			tokio::select! {
				// A non-zero exit comes as an error item; either way the container is done.
				_ = wait.next() => break Some(Ending::Exited),
				item = output.next(), if output_open => match item {
					Some(Ok(item)) => logs.keep(item),
					_ => output_open = false,
				},
				_ = &mut deadline => break Some(Ending::WallLimit),
				Ok(_) = cancel.wait_for(|cancelled| *cancelled) => break None,
				_ = watchdog.tick() => {
					cgroup.sample_memory();
					if cgroup.cpu_ms().map_err(host("cpu time"))? > job.limits.cpu {
						break Some(Ending::CpuLimit);
					}
				},
			}
		};
		if ending != Some(Ending::Exited) {
			tracing::info!(run = %job.run_id, ?ending, "killing the job");
			let kill = KillContainerOptions { signal: "SIGKILL".into() };
			// The container may have exited on its own meanwhile: then there is nothing to kill.
			let _ = docker_call(
				"kill",
				DOCKER_TIMEOUT,
				self.docker.kill_container(container, Some(kill)),
			)
			.await;
			let _ = tokio::time::timeout(DOCKER_TIMEOUT, wait.next()).await;
		}
		let ending = ending.ok_or(ExecutorError::Cancelled)?;
		// What the job wrote before it ended is still on its way.
		if output_open {
			docker_call("attach", DOCKER_TIMEOUT, async {
				while let Some(item) = output.next().await {
					logs.keep(item?);
				}
				Ok(())
			})
			.await?;
		}
		Ok(ending)
	}

	/// Removes everything of a run, whatever state it is in: its container, its tmpfs and work
	/// directory, and its cgroup.
	async fn discard(&self, run_id: &str) {
		let name = self.name(run_id);
		let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
		let _ = docker_call(
			"remove",
			DOCKER_TIMEOUT,
			self.docker.remove_container(&name, Some(remove)),
		)
		.await;
		let run_dir = self.work_dir.join(run_id);
		let fs = run_dir.join("fs");
		if is_mount_point(&fs) {
			let _ = run_command("umount", &[fs.as_os_str()]).await;
		}
		let _ = std::fs::remove_dir_all(&run_dir);
		RunCgroup::remove_named(self.layout, &name).await;
	}
}

/// Removes a run's container, tmpfs, cgroup and image when the run ends, however it ends: a
/// cancelled or panicking run drops its guard, which hands the removal to the runtime.
struct RunGuard {
	executor: Executor,
	run_id: String,
	image: Option<String>,
	/// The run's cores, returned after its container is removed.
	cores: Option<Cores>,
	armed: bool,
}

impl RunGuard {
	fn new(executor: Executor, run_id: &str) -> Self {
		Self { executor, run_id: run_id.into(), image: None, cores: None, armed: true }
	}

	async fn release(mut self) {
		self.armed = false;
		cleanup(self.executor.clone(), self.run_id.clone(), self.image.take(), self.cores.take()).await;
	}
}

async fn cleanup(executor: Executor, run_id: String, image: Option<String>, cores: Option<Cores>) {
	executor.discard(&run_id).await;
	drop(cores);
	if let Some(reference) = image {
		executor.release_image(&reference).await;
	}
}

impl Drop for RunGuard {
	fn drop(&mut self) {
		if !self.armed {
			return;
		}
		let job = cleanup(
			self.executor.clone(),
			std::mem::take(&mut self.run_id),
			self.image.take(),
			self.cores.take(),
		);
		// Without a runtime (the node shutting down) the next start removes the leftovers.
		if let Ok(runtime) = tokio::runtime::Handle::try_current() {
			runtime.spawn(job);
		}
	}
}

/// The first [`LOG_LIMIT`] bytes of stdout and of stderr, raw.
#[derive(Default)]
struct Logs {
	stdout: Vec<u8>,
	stderr: Vec<u8>,
}

impl Logs {
	fn keep(&mut self, item: LogOutput) {
		let (buffer, message) = match item {
			LogOutput::StdOut { message } => (&mut self.stdout, message),
			LogOutput::StdErr { message } => (&mut self.stderr, message),
			_ => return,
		};
		let room = LOG_LIMIT.saturating_sub(buffer.len());
		buffer.extend_from_slice(&message[..message.len().min(room)]);
	}
}

/// How the watch of a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
	Exited,
	CpuLimit,
	WallLimit,
}

/// The container's memory limit in bytes: memory + storage (tmpfs pages are charged to the
/// container) and the storage overshoot; `None` beyond what any host has.
fn memory_limit(limits: &Resources) -> Option<u64> {
	let bytes = limits.memory.checked_add(limits.storage)?.checked_mul(MIB)?;
	bytes.checked_add(STORAGE_OVERSHOOT).filter(|b| *b <= i64::MAX as u64 / 2)
}

/// Mounts the run's tmpfs at `<run_dir>/fs`, the size of the storage limit and with at most
/// [`MAX_ENTRIES`] inodes, holding the job's `/out` and `/tmp`: the kernel bounds what a job
/// can store, and both are still there to measure after the container exits.
async fn mount_run_fs(run_dir: &Path, bytes: u64) -> Result<(PathBuf, PathBuf), ExecutorError> {
	let fs = run_dir.join("fs");
	std::fs::create_dir_all(&fs).map_err(host("run directory"))?;
	// Each entry counts 4 KiB of storage: one inode more than fit (besides the root, out and
	// tmp) takes the count past the limit.
	let inodes = (bytes / archive::ENTRY_BYTES).min(MAX_ENTRIES) + 4;
	let size = bytes + STORAGE_OVERSHOOT;
	let options = format!("size={size},nr_inodes={inodes},mode=0755,nosuid,nodev,noexec");
	run_command(
		"mount",
		&["-t".as_ref(), "tmpfs".as_ref(), "-o".as_ref(), options.as_ref(), "tmpfs".as_ref(), fs.as_os_str()],
	)
	.await?;
	let (out, tmp) = (fs.join("out"), fs.join("tmp"));
	for (dir, mode) in [(&out, 0o777), (&tmp, 0o1777)] {
		std::fs::create_dir(dir).map_err(host("run directory"))?;
		std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
			.map_err(host("run directory"))?;
	}
	Ok((out, tmp))
}

async fn run_command(program: &'static str, args: &[&std::ffi::OsStr]) -> Result<(), ExecutorError> {
	let output = tokio::time::timeout(
		DOCKER_TIMEOUT,
		tokio::process::Command::new(program).args(args).kill_on_drop(true).output(),
	)
	.await
	.map_err(|_| ExecutorError::Host { what: program, source: std::io::ErrorKind::TimedOut.into() })?
	.map_err(host(program))?;
	if !output.status.success() {
		let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
		return Err(ExecutorError::Host { what: program, source: std::io::Error::other(message) });
	}
	Ok(())
}

fn is_mount_point(path: &Path) -> bool {
	let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return false };
	let wanted = path.display().to_string();
	mounts.lines().any(|line| line.split(' ').nth(1) == Some(wanted.as_str()))
}

/// The cores this process may run on (`Cpus_allowed_list` of /proc/self/status).
pub fn allowed_cores() -> std::io::Result<Vec<usize>> {
	let status = std::fs::read_to_string("/proc/self/status")?;
	let list = status
		.lines()
		.find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
		.ok_or_else(|| std::io::Error::other("no Cpus_allowed_list in /proc/self/status"))?;
	parse_core_list(list.trim())
		.ok_or_else(|| std::io::Error::other(format!("unreadable Cpus_allowed_list `{list}`")))
}

/// `0-3,5,7-8` → [0, 1, 2, 3, 5, 7, 8].
fn parse_core_list(list: &str) -> Option<Vec<usize>> {
	let mut cores = Vec::new();
	for part in list.split(',').filter(|p| !p.is_empty()) {
		let (first, last) = part.split_once('-').unwrap_or((part, part));
		let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
		cores.extend(first..=last);
	}
	(!cores.is_empty()).then_some(cores)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn core_lists_read_like_the_kernel_writes_them() {
		assert_eq!(parse_core_list("0-3,5,7-8"), Some(vec![0, 1, 2, 3, 5, 7, 8]));
		assert_eq!(parse_core_list("1"), Some(vec![1]));
		assert_eq!(parse_core_list(""), None);
	}
}
