//! The executor: runs one job in Docker under the hardened profile, meters it in a cgroup of its
//! own, and turns every way a run can end into a result status, usage and canonical archive.
//! Providers and mediators run jobs through the same code, so an honest re-execution agrees.

pub mod archive;
mod cgroup;

use crate::{
	config::{digest_string, oci_architecture},
	registry::{Registry, RegistryError},
};
use bollard::{
	container::LogOutput,
	models::{ContainerCreateBody, HostConfig},
	query_parameters::{
		CreateContainerOptions, CreateImageOptions, KillContainerOptions, ListContainersOptions,
		LogsOptions, RemoveContainerOptions,
	},
	Docker,
};
use cgroup::RunCgroup;
use futures::{Stream, StreamExt};
use modicum_runtime::{Runtime, MILLI_SECS_PER_BLOCK};
use pallet_market::{Architecture, Digest, MatchOf, Resources, ResultStatus};
use std::{
	collections::{BTreeSet, HashMap},
	future::Future,
	path::{Path, PathBuf},
	time::{Duration, Instant},
};
use tokio::sync::watch;

/// Who runs the job inside the container: `nobody`, never root.
const JOB_USER: &str = "65534:65534";

/// The most processes a job may have; a fork bomb stops here.
const PIDS_LIMIT: i64 = 64;

/// The most bytes of stdout and of stderr kept in the result archive.
pub const LOG_LIMIT: usize = 1 << 20;

/// How long a Docker call other than a pull may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an image pull may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the watchdog reads the cgroup's CPU time.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(50);

/// Wall time a job may take beyond twice its scheduled run, for start-up and I/O.
const WALL_SLACK: Duration = Duration::from_secs(10);

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
	/// Wall time after which the job is killed.
	pub wall_limit: Duration,
}

impl Job {
	/// The job of a match. Rate and wall-time bound follow from the match alone (its CPU limit
	/// spread over its run blocks, twice that plus slack as the bound), so the provider's run and
	/// the mediator's re-executions end alike.
	pub fn for_match(
		run_id: String,
		terms: &MatchOf<Runtime>,
		endpoint: String,
		architecture: Architecture,
	) -> Self {
		let run_ms = u64::from(terms.run_length.max(1)).saturating_mul(MILLI_SECS_PER_BLOCK);
		let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
		Self {
			run_id,
			endpoint,
			repository: String::from_utf8_lossy(&terms.image.repository).into_owned(),
			digest: terms.image.digest,
			base_layer: terms.base_layer,
			architecture,
			limits: terms.limits,
			cpu_rate: (terms.limits.cpu as f64 / run_ms as f64).clamp(0.01, host_cpus),
			wall_limit: Duration::from_millis(run_ms.saturating_mul(2)) + WALL_SLACK,
		}
	}
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
	/// The status to post.
	pub status: ResultStatus,
	/// What the run used.
	pub usage: Resources,
	/// The canonical result archive, when the job ran at all.
	pub archive: Option<Vec<u8>>,
	/// Wall time of the container.
	pub wall: Duration,
}

impl Execution {
	fn refused(status: ResultStatus, usage: Resources) -> Self {
		Self { status, usage, archive: None, wall: Duration::ZERO }
	}
}

/// A failure of the executor's own machinery (Docker or the host), not of the job.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
	/// The Docker engine failed or did not answer.
	#[error("docker: {0}")]
	Docker(String),
	/// The run was cancelled (its match closed or moved on).
	#[error("run cancelled")]
	Cancelled,
	/// A Docker call timed out.
	#[error("docker {0} timed out")]
	Timeout(&'static str),
	/// The host refused a file, mount or cgroup operation.
	#[error("host: {0}")]
	Host(String),
}

fn host(what: &str) -> impl FnOnce(std::io::Error) -> ExecutorError + '_ {
	move |e| ExecutorError::Host(format!("{what}: {e}"))
}

/// Runs one Docker call with a timeout.
async fn docker_call<T>(
	what: &'static str,
	limit: Duration,
	call: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, ExecutorError> {
	tokio::time::timeout(limit, call)
		.await
		.map_err(|_| ExecutorError::Timeout(what))?
		.map_err(|e| ExecutorError::Docker(format!("{what}: {e}")))
}

/// Drains a Docker stream with a timeout, keeping its first error.
async fn drain<T>(
	what: &'static str,
	limit: Duration,
	stream: impl Stream<Item = Result<T, bollard::errors::Error>>,
) -> Result<(), ExecutorError> {
	docker_call(what, limit, async {
		futures::pin_mut!(stream);
		while let Some(item) = stream.next().await {
			item?;
		}
		Ok(())
	})
	.await
}

/// Runs jobs in the local Docker engine.
#[derive(Clone)]
pub struct Executor {
	docker: Docker,
	work_dir: PathBuf,
	/// Names this executor's containers and cgroups (`modicum-provider-…`), so roles sharing
	/// an engine never touch each other's runs.
	role: &'static str,
}

/// The image's bytes a job's bandwidth counts, or the status that ends the job before it runs.
struct Image {
	reference: String,
	layer_kib: u64,
}

impl Executor {
	/// Connects to the local engine, negotiating the API version (Docker 20.10 speaks 1.41),
	/// checks the host meters with cgroup v1, and removes what an earlier process of this role
	/// left behind (containers, `/out` mounts, cgroups).
	pub async fn connect(work_dir: PathBuf, role: &'static str) -> Result<Self, ExecutorError> {
		RunCgroup::check_host().map_err(ExecutorError::Host)?;
		let docker = Docker::connect_with_unix_defaults()
			.map_err(|e| ExecutorError::Docker(format!("connect: {e}")))?;
		let docker =
			docker_call("version negotiation", DOCKER_TIMEOUT, docker.negotiate_version()).await?;
		std::fs::create_dir_all(&work_dir).map_err(host("work directory"))?;
		let executor = Self { docker, work_dir, role };
		executor.clean_leftovers().await?;
		Ok(executor)
	}

	/// The cgroup name of a run; its container is `modicum-<this>`.
	fn name(&self, run_id: &str) -> String {
		format!("{}-{run_id}", self.role)
	}

	async fn clean_leftovers(&self) -> Result<(), ExecutorError> {
		let prefix = format!("modicum-{}-", self.role);
		let options = ListContainersOptions {
			all: true,
			filters: Some(HashMap::from([("name".to_string(), vec![prefix.clone()])])),
			..Default::default()
		};
		let containers =
			docker_call("list", DOCKER_TIMEOUT, self.docker.list_containers(Some(options))).await?;
		let mut runs: BTreeSet<String> = containers
			.iter()
			.flat_map(|c| c.names.iter().flatten())
			.filter_map(|name| name.trim_start_matches('/').strip_prefix(&prefix))
			.map(String::from)
			.collect();
		let dirs = std::fs::read_dir(&self.work_dir).map_err(host("work directory"))?;
		runs.extend(dirs.flatten().map(|dir| dir.file_name().to_string_lossy().into_owned()));
		for run in runs {
			tracing::info!(run, "removing a run left by an earlier process");
			self.discard(&run).await;
		}
		Ok(())
	}

	/// Runs `job` once. A job that fails is an `Ok` with its status; `Err` is the executor's own
	/// failure or a cancellation (`cancel` turning true), after which nothing of the run is left
	/// behind.
	pub async fn execute(
		&self,
		job: &Job,
		cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let image = match self.check_image(job).await {
			Ok(image) => image,
			Err(status) => {
				tracing::info!(run = %job.run_id, ?status, "job refused before running");
				return Ok(Execution::refused(status, Resources::default()));
			}
		};
		if image.layer_kib > job.limits.bandwidth {
			let usage = Resources { bandwidth: image.layer_kib, ..Default::default() };
			return Ok(Execution::refused(ResultStatus::BandwidthExceeded, usage));
		}
		let pull =
			CreateImageOptions { from_image: Some(image.reference.clone()), ..Default::default() };
		if let Err(e) =
			drain("image pull", PULL_TIMEOUT, self.docker.create_image(Some(pull), None, None))
				.await
		{
			tracing::warn!(run = %job.run_id, error = %e, "image pull failed");
			let registry = Registry::new(&job.endpoint).ok();
			let status = match registry {
				Some(registry) if registry.ping().await.is_ok() => ResultStatus::JobNotFound,
				_ => ResultStatus::DirectoryUnavailable,
			};
			return Ok(Execution::refused(status, Resources::default()));
		}

		let out_dir = self.work_dir.join(&job.run_id).join("out");
		let container = format!("modicum-{}", self.name(&job.run_id));
		self.discard(&job.run_id).await;
		let cgroup = RunCgroup::create(&self.name(&job.run_id)).map_err(host("cgroup"))?;
		let result = self.run(job, &image, &container, &out_dir, &cgroup, cancel).await;
		self.discard(&job.run_id).await;
		result
	}

	/// Reads the manifest and config from the directory and checks them against the job offer.
	async fn check_image(&self, job: &Job) -> Result<Image, ResultStatus> {
		let registry = Registry::new(&job.endpoint).map_err(|_| ResultStatus::Declined)?;
		let status = |e: RegistryError| match e {
			RegistryError::Unavailable { .. } => ResultStatus::DirectoryUnavailable,
			RegistryError::NotFound(_) => ResultStatus::JobNotFound,
			RegistryError::Invalid(_) => ResultStatus::JobDescriptionError,
			RegistryError::Endpoint(_) => ResultStatus::Declined,
		};
		let manifest = registry.manifest(&job.repository, &job.digest).await.map_err(status)?;
		let config = registry.image_config(&job.repository, &manifest).await.map_err(status)?;
		let base = digest_string(&job.base_layer);
		if config.architecture != oci_architecture(job.architecture)
			|| config.rootfs.diff_ids.len() != manifest.layers.len()
			|| config.rootfs.diff_ids.first() != Some(&base)
		{
			return Err(ResultStatus::JobDescriptionError);
		}
		// Bandwidth counts the compressed layers a provider holding the base layer must fetch.
		let layer_bytes: u64 = manifest
			.layers
			.iter()
			.zip(&config.rootfs.diff_ids)
			.filter(|(_, diff_id)| **diff_id != base)
			.map(|(layer, _)| layer.size)
			.sum();
		Ok(Image {
			reference: format!(
				"{}/{}@{}",
				registry.host(),
				job.repository,
				digest_string(&job.digest)
			),
			layer_kib: layer_bytes.div_ceil(1024),
		})
	}

	async fn run(
		&self,
		job: &Job,
		image: &Image,
		container: &str,
		out_dir: &Path,
		cgroup: &RunCgroup,
		cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let storage_bytes = job.limits.storage * MIB;
		mount_out(out_dir, storage_bytes).await?;
		let memory = i64::try_from(job.limits.memory * MIB).unwrap_or(i64::MAX);
		let config = ContainerCreateBody {
			image: Some(image.reference.clone()),
			user: Some(JOB_USER.into()),
			network_disabled: Some(true),
			host_config: Some(HostConfig {
				network_mode: Some("none".into()),
				readonly_rootfs: Some(true),
				cap_drop: Some(vec!["ALL".into()]),
				security_opt: Some(vec!["no-new-privileges".into()]),
				pids_limit: Some(PIDS_LIMIT),
				memory: Some(memory),
				memory_swap: Some(memory),
				nano_cpus: Some((job.cpu_rate * 1e9) as i64),
				cgroup_parent: Some(cgroup.parent()),
				binds: Some(vec![format!("{}:/out:rw", out_dir.display())]),
				..Default::default()
			}),
			..Default::default()
		};
		let create = CreateContainerOptions { name: Some(container.into()), ..Default::default() };
		if let Err(e) = docker_call(
			"container create",
			DOCKER_TIMEOUT,
			self.docker.create_container(Some(create), config),
		)
		.await
		{
			// Docker refuses what the job offer describes (e.g. a memory limit below its least).
			tracing::info!(run = %job.run_id, error = %e, "container refused");
			return Ok(Execution::refused(ResultStatus::JobDescriptionError, Resources::default()));
		}
		let started = Instant::now();
		docker_call(
			"container start",
			DOCKER_TIMEOUT,
			self.docker.start_container(container, None),
		)
		.await?;
		tracing::debug!(run = %job.run_id, "container started");

		let ending = self.watch(job, container, cgroup, cancel).await?;
		let wall = started.elapsed();
		let inspect =
			docker_call("inspect", DOCKER_TIMEOUT, self.docker.inspect_container(container, None))
				.await?;
		let state = inspect.state.unwrap_or_default();
		let exit_code = state.exit_code;
		let (stdout, stderr) = self.logs(container).await?;

		let stored = archive::stored_bytes(out_dir).map_err(host("measuring /out"))?;
		let out_full = stored >= storage_bytes || free_bytes(out_dir)? == 0;
		let archive =
			archive::canonical_tar(out_dir, &stdout, &stderr).map_err(host("result archive"))?;
		let usage = Resources {
			cpu: cgroup.cpu_ms().map_err(host("cpu time"))?,
			memory: cgroup.peak_memory().map_err(host("peak memory"))?.div_ceil(MIB),
			storage: stored.div_ceil(MIB),
			bandwidth: image.layer_kib + (archive.len() as u64).div_ceil(1024),
		};
		let status = match ending {
			Ending::CpuLimit => ResultStatus::CpuExceeded,
			_ if state.oom_killed == Some(true) => ResultStatus::MemoryExceeded,
			_ if usage.cpu > job.limits.cpu => ResultStatus::CpuExceeded,
			_ if out_full && exit_code != Some(0) => ResultStatus::StorageExceeded,
			Ending::WallLimit => ResultStatus::ExceptionOccurred,
			Ending::Exited if exit_code != Some(0) => ResultStatus::ExceptionOccurred,
			Ending::Exited if usage.bandwidth > job.limits.bandwidth => {
				ResultStatus::BandwidthExceeded
			}
			Ending::Exited => ResultStatus::Completed,
		};
		tracing::info!(
			run = %job.run_id, ?status, ?exit_code, cpu_ms = usage.cpu, memory_mib = usage.memory,
			storage_mib = usage.storage, bandwidth_kib = usage.bandwidth, wall_ms = wall.as_millis() as u64,
			"job ended"
		);
		Ok(Execution { status, usage, archive: Some(archive), wall })
	}

	/// Waits for the container to exit, killing it when its cgroup's CPU time passes the limit
	/// (`--cpus` only caps a rate), the wall-time bound passes, or the run is cancelled.
	async fn watch(
		&self,
		job: &Job,
		container: &str,
		cgroup: &RunCgroup,
		mut cancel: watch::Receiver<bool>,
	) -> Result<Ending, ExecutorError> {
		let wait = self.docker.wait_container(container, None);
		futures::pin_mut!(wait);
		let deadline = tokio::time::sleep(job.wall_limit);
		tokio::pin!(deadline);
		let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
		let ending = loop {
			tokio::select! {
				// A non-zero exit comes as an error item; either way the container is done.
				_ = wait.next() => break Some(Ending::Exited),
				_ = &mut deadline => break Some(Ending::WallLimit),
				Ok(_) = cancel.wait_for(|cancelled| *cancelled) => break None,
				_ = watchdog.tick() => {
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
		ending.ok_or(ExecutorError::Cancelled)
	}

	/// The job's stdout and stderr, each cut at [`LOG_LIMIT`] bytes.
	async fn logs(&self, container: &str) -> Result<(Vec<u8>, Vec<u8>), ExecutorError> {
		let options = LogsOptions { stdout: true, stderr: true, ..Default::default() };
		let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
		docker_call("logs", DOCKER_TIMEOUT, async {
			let logs = self.docker.logs(container, Some(options));
			futures::pin_mut!(logs);
			while let Some(item) = logs.next().await {
				let (buffer, message) = match item? {
					LogOutput::StdOut { message } => (&mut stdout, message),
					LogOutput::StdErr { message } => (&mut stderr, message),
					_ => continue,
				};
				let room = LOG_LIMIT.saturating_sub(buffer.len());
				buffer.extend_from_slice(&message[..message.len().min(room)]);
			}
			Ok(())
		})
		.await?;
		Ok((stdout, stderr))
	}

	/// Removes everything of a run, whatever state it is in: its container, its `/out` mount and
	/// work directory, and its cgroup.
	async fn discard(&self, run_id: &str) {
		let name = self.name(run_id);
		let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
		let container = format!("modicum-{name}");
		let _ = docker_call(
			"remove",
			DOCKER_TIMEOUT,
			self.docker.remove_container(&container, Some(remove)),
		)
		.await;
		let run_dir = self.work_dir.join(run_id);
		let out_dir = run_dir.join("out");
		if is_mount_point(&out_dir) {
			let _ = run_command("umount", &[out_dir.as_os_str()]).await;
		}
		let _ = std::fs::remove_dir_all(&run_dir);
		RunCgroup { name }.remove();
	}
}

/// How the watch of a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
	Exited,
	CpuLimit,
	WallLimit,
}

/// Mounts a tmpfs of the storage limit at `out_dir`: the job's `/out`, bounded by the kernel.
async fn mount_out(out_dir: &Path, bytes: u64) -> Result<(), ExecutorError> {
	std::fs::create_dir_all(out_dir).map_err(host("/out directory"))?;
	// A zero-size tmpfs would be unbounded: one page is the least.
	let options = format!("size={},mode=0777,nosuid,nodev,noexec", bytes.max(4096));
	run_command(
		"mount",
		&[
			"-t".as_ref(),
			"tmpfs".as_ref(),
			"-o".as_ref(),
			options.as_ref(),
			"tmpfs".as_ref(),
			out_dir.as_os_str(),
		],
	)
	.await
}

async fn run_command(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), ExecutorError> {
	let output = tokio::time::timeout(
		DOCKER_TIMEOUT,
		tokio::process::Command::new(program).args(args).kill_on_drop(true).output(),
	)
	.await
	.map_err(|_| ExecutorError::Host(format!("{program} timed out")))?
	.map_err(host(program))?;
	if !output.status.success() {
		return Err(ExecutorError::Host(format!(
			"{program}: {}",
			String::from_utf8_lossy(&output.stderr).trim()
		)));
	}
	Ok(())
}

fn is_mount_point(path: &Path) -> bool {
	let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return false };
	let wanted = path.display().to_string();
	mounts.lines().any(|line| line.split(' ').nth(1) == Some(wanted.as_str()))
}

/// Bytes still free in the file system of `path`.
fn free_bytes(path: &Path) -> Result<u64, ExecutorError> {
	let stat =
		rustix::fs::statvfs(path).map_err(|e| ExecutorError::Host(format!("statvfs: {e}")))?;
	Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
