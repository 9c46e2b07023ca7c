//! The market's story in tests: registration, then the protocol from offer to payout.

mod attacks;
mod grants;
mod invariants;
mod protocol;
mod registration;
mod round3;
