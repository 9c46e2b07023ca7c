//! Extrinsics signed with the runtime's own transaction extensions: by a keystore key in the
//! node's roles, by a seed in the CLI — one function for both, so both sign alike.

use codec::Encode;
use modicum_runtime::{
	AccountId, BlockNumber, Hash, Nonce, Runtime, RuntimeCall, SignedPayload, TxExtension,
	UncheckedExtrinsic,
};
use sp_core::{crypto::KeyTypeId, sr25519};
use sp_runtime::{generic::Era, MultiAddress, MultiSignature};

/// The keystore key type of market workers: `modicum-node key insert --key-type mdcm
/// --scheme sr25519 --suri <seed>`.
pub const KEY_TYPE: KeyTypeId = KeyTypeId(*b"mdcm");

/// Blocks a transaction stays valid for.
pub const MORTALITY: u64 = 64;

/// How far behind the best block a transaction's era is born when finality lags: deeper than
/// any fork Aura leaves, and young enough that a stalled finality never outlives the era.
const BIRTH_DEPTH: BlockNumber = 8;

/// The block a transaction's era is born at: the finalized block, or when finality lags, a
/// block [`BIRTH_DEPTH`] behind the best, so a transaction stays valid however long finality
/// stalls.
pub fn birth_number(best: BlockNumber, finalized: BlockNumber) -> BlockNumber {
	finalized.max(best.saturating_sub(BIRTH_DEPTH))
}

/// What a signature commits to besides the call and the nonce.
#[derive(Clone, Copy, Debug)]
pub struct SigningContext {
	/// The runtime's spec version.
	pub spec_version: u32,
	/// The runtime's transaction version.
	pub transaction_version: u32,
	/// The chain's genesis hash.
	pub genesis: Hash,
	/// The era and the hash of the block it is born at (genesis for an immortal one).
	pub era: (Era, Hash),
}

/// `call` signed by `account` with the runtime's own transaction extensions; `sign` signs the
/// payload.
pub fn signed_extrinsic<E>(
	call: RuntimeCall,
	account: AccountId,
	nonce: Nonce,
	context: SigningContext,
	sign: impl FnOnce(&[u8]) -> Result<sr25519::Signature, E>,
) -> Result<UncheckedExtrinsic, E> {
	let (era, birth) = context.era;
	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(era),
		frame_system::CheckNonce::<Runtime>::from(nonce),
		frame_system::CheckWeight::<Runtime>::new(),
		pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
		frame_system::WeightReclaim::<Runtime>::new(),
	);
	let implicit = (
		(),
		context.spec_version,
		context.transaction_version,
		context.genesis,
		birth,
		(),
		(),
		(),
		(),
	);
	let payload = SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
	let signature = payload.using_encoded(sign)?;
	Ok(UncheckedExtrinsic::new_signed(
		call,
		MultiAddress::Id(account),
		MultiSignature::Sr25519(signature),
		extension,
	))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn an_era_is_born_at_the_finalized_block_unless_finality_lags() {
		assert_eq!(birth_number(100, 98), 98);
		// Finality stalled for more than an era: born just behind the best block, still valid.
		assert_eq!(birth_number(1_000, 10), 1_000 - BIRTH_DEPTH);
		assert!(1_000 - birth_number(1_000, 10) < MORTALITY as BlockNumber);
		assert_eq!(birth_number(3, 0), 0);
	}
}
