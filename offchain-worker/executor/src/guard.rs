//! What a run creates is removed on every path: by the run when it ends, by its guard's drop
//! when it is cancelled or panics, by the next start after a crash.

use super::*;

impl Executor {
	/// Removes everything of a run, whatever state it is in: its container, its tmpfs and work
	/// directory, and its cgroup.
	pub(crate) async fn discard(&self, run_id: &str) {
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
pub(crate) struct RunGuard {
	executor: Executor,
	run_id: String,
	pub(crate) image: Option<String>,
	/// The run's cores, returned after its container is removed.
	pub(crate) cores: Option<Cores>,
	armed: bool,
}

impl RunGuard {
	pub(crate) fn new(executor: Executor, run_id: &str) -> Self {
		Self { executor, run_id: run_id.into(), image: None, cores: None, armed: true }
	}

	pub(crate) async fn release(mut self) {
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

