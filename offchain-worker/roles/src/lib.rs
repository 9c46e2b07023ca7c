//! The node's market roles. A node started with role flags runs, inside its own process:
//!
//! - [`provider`]: posts resource offers from its slots at its price policy's ask, runs matched
//!   jobs in Docker (`modicum-executor`), uploads the result archive to the job's directory
//!   (`modicum-registry`) and posts the result;
//! - [`solver`]: matches open job offers to open resource offers and posts the matches;
//! - [`mediator`]: re-executes disputed jobs and posts verdicts;
//! - [`directory`]: keeps a directory's registration alive with heartbeats while its registry
//!   answers, and deletes jobs' images and results a retention period after their matches
//!   close.
//!
//! Each role is a handler over a context (its chain client, role file and metrics) that
//! decides what each block and each finished task of a match mean, with its own retry policy;
//! one loop runs every role the same way, and stops it the same way when the node stops
//! (`handler`).
//!
//! Each role signs with an `mdcm` key of the node keystore (`modicum_common::signing::KEY_TYPE`)
//! through the in-node [`chain`] client, acts on best blocks and settles on finalized ones.
//! Whatever would leave a role idle — a missing key, an unfunded account, an unreachable Docker
//! engine or registry — is an error at start ([`startup`]).

pub mod chain;
pub mod config;
mod context;
pub mod directory;
mod handler;
pub mod machine;
pub mod mediator;
pub mod metrics;
pub mod provider;
mod registration;
pub mod solver;
mod startup;
mod tasks;

pub use handler::SHUTDOWN_GRACE;
pub use startup::{namespace, prepare, NodeHandles, Worker, WorkerError};

use std::path::PathBuf;

/// The role configuration files a node was started with.
#[derive(Clone, Debug, Default)]
pub struct Roles {
	/// `--provider <file>`.
	pub provider: Option<PathBuf>,
	/// `--solver <file>`.
	pub solver: Option<PathBuf>,
	/// `--mediator <file>`.
	pub mediator: Option<PathBuf>,
	/// `--directory <file>`.
	pub directory: Option<PathBuf>,
}

impl Roles {
	/// Whether any role is enabled.
	pub fn any(&self) -> bool {
		self.provider.is_some()
			|| self.solver.is_some()
			|| self.mediator.is_some()
			|| self.directory.is_some()
	}
}
