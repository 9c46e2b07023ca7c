//! The mediator's retry policy, decisions only (no I/O). A mediation that reached no verdict is
//! the mediator's own failure or the directory not serving it, never a verdict
//! (docs/protocol.md, "Mediation"): it is tried again a few blocks later, while the match is in
//! mediation.

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
		MediationError::DirectoryUnreachable(_) |
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
	fn a_match_that_left_mediation_is_not_mediated_again() {
		assert_eq!(retry_at(&MediationError::NotInMediation, 100), None);
	}
}
