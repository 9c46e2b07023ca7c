//! The mediator's retry policy, decisions only (no I/O). A mediation that reached no verdict
//! failed on the mediator's side (its Docker, its host, its access to a registry, its link not
//! proved fast), never a verdict (docs/protocol.md, "Mediation"): it is tried again a few blocks
//! later, while the match is in mediation.

use super::mediation::MediationError;
use modicum_runtime::BlockNumber;

/// Blocks a mediation that reached no verdict waits before it is tried again.
const RETRY_AFTER: BlockNumber = 5;

/// The block from which a mediation that ended with `error` at block `now` is tried again;
/// `None` if it is not.
pub(super) fn retry_at(error: &MediationError, now: BlockNumber) -> Option<BlockNumber> {
	match error {
		MediationError::NotInMediation => None,
		MediationError::Executor(_) |
		MediationError::NotMeasured(_) |
		MediationError::OwnAccess(_) |
		MediationError::Link(_) |
		MediationError::Panicked(_) => Some(now.saturating_add(RETRY_AFTER)),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use pallet_market::ResultStatus;

	#[test]
	fn a_mediation_that_measured_nothing_is_tried_again_five_blocks_later() {
		let error = MediationError::NotMeasured(ResultStatus::DirectoryUnavailable);
		assert_eq!(retry_at(&error, 100), Some(105));
		assert_eq!(retry_at(&error, BlockNumber::MAX), Some(BlockNumber::MAX));
	}

	#[test]
	fn a_slow_directory_judged_over_a_link_that_proved_nothing_is_tried_again() {
		let error = MediationError::Link(super::super::link::LinkError::Slow {
			url: "http://reference".into(),
			wanted_kib: 4096,
			limit_ms: 24_000,
		});
		assert_eq!(retry_at(&error, 100), Some(105));
	}

	#[test]
	fn a_match_that_left_mediation_is_not_mediated_again() {
		assert_eq!(retry_at(&MediationError::NotInMediation, 100), None);
	}
}
