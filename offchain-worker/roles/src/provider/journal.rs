//! The provider's run journal: what it measured of each match, kept across restarts.

use modicum_common::durable::write_durably;
use pallet_market::{MatchId, Receipt};
use std::{collections::HashSet, path::PathBuf};

/// A measured run: its receipt, and whether its archive is at the directory.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Measured {
	pub(crate) receipt: Receipt,
	pub(crate) uploaded: bool,
}

/// What the provider knows of each of its matches across restarts, one set of files per match:
/// `match-N.started` (runs begun), `match-N.tar` (the archive) and `match-N.json` (the
/// measured receipt). A measured run is never run again; entries stay until the match's
/// result is final.
pub(crate) struct RunJournal {
	pub(crate) dir: PathBuf,
}

impl RunJournal {
	pub(crate) fn path(&self, id: MatchId, extension: &str) -> PathBuf {
		self.dir.join(format!("match-{id}.{extension}"))
	}

	pub(crate) fn archive(&self, id: MatchId) -> PathBuf {
		self.path(id, "tar")
	}

	pub(crate) fn load(&self, id: MatchId) -> Option<Measured> {
		let text = std::fs::read(self.path(id, "json")).ok()?;
		serde_json::from_slice(&text).ok()
	}

	pub(crate) fn save(&self, id: MatchId, measured: &Measured) -> std::io::Result<()> {
		write_durably(&self.path(id, "json"), &serde_json::to_vec(measured)?)
	}

	/// Runs of the match begun and not ended in this or an earlier process.
	pub(crate) fn attempts(&self, id: MatchId) -> u32 {
		std::fs::read_to_string(self.path(id, "started"))
			.ok()
			.and_then(|text| text.trim().parse().ok())
			.unwrap_or(0)
	}

	pub(crate) fn begin(&self, id: MatchId, attempt: u32) -> std::io::Result<()> {
		write_durably(&self.path(id, "started"), attempt.to_string().as_bytes())
	}

	/// The run ended (measured, or failed locally): it was not cut short.
	pub(crate) fn end(&self, id: MatchId) {
		let _ = std::fs::remove_file(self.path(id, "started"));
	}

	/// Matches with any journal file.
	pub(crate) fn entries(&self) -> HashSet<MatchId> {
		let Ok(dir) = std::fs::read_dir(&self.dir) else { return HashSet::new() };
		dir.flatten()
			.filter_map(|e| {
				let name = e.file_name().into_string().ok()?;
				name.strip_prefix("match-")?.split('.').next()?.parse().ok()
			})
			.collect()
	}

	pub(crate) fn remove(&self, id: MatchId) {
		for extension in ["json", "tar", "started"] {
			let _ = std::fs::remove_file(self.path(id, extension));
		}
	}
}

