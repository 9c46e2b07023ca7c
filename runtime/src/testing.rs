//! Running the real runtime outside a node, for its tests and the market fuzzer: genesis
//! storage built from a preset exactly as a node builds it, and blocks produced the way a node
//! imports them (Aura slot digest, timestamp inherent, hooks, finalization).

use crate::{
	genesis_config_presets::get_preset, Executive, Header, Nonce, RuntimeCall,
	RuntimeGenesisConfig, Signature, SignedPayload, System, TxExtension, UncheckedExtrinsic,
	SLOT_DURATION,
};
use codec::Encode;
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	generic::{Digest, DigestItem, Era},
	traits::Header as _,
	BuildStorage,
};

/// Storage built exactly as a node builds it from the preset `id`.
pub fn genesis_ext(id: &str) -> sp_io::TestExternalities {
	fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
		match (base, patch) {
			(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
				for (key, value) in patch {
					merge(base.entry(key).or_insert(serde_json::Value::Null), value);
				}
			}
			(base, patch) => *base = patch,
		}
	}
	let patch = get_preset(&id.into()).expect("the preset exists");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("serializes");
	merge(&mut config, serde_json::from_slice(&patch).expect("the preset is JSON"));
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("a genesis config");
	config.build_storage().expect("the genesis builds").into()
}

/// Start block `number` in Aura `slot`, as a node imports it.
pub fn start_block(number: crate::BlockNumber, slot: u64) {
	let pre_digest = DigestItem::PreRuntime(AURA_ENGINE_ID, Slot::from(slot).encode());
	let header = Header::new(
		number,
		Default::default(),
		Default::default(),
		System::block_hash(number.saturating_sub(1)),
		Digest { logs: vec![pre_digest] },
	);
	Executive::initialize_block(&header);
}

/// Open block `number` in slot `number` (so the development chain's only authority authors
/// it) and apply its timestamp inherent; [`close_block`] closes it.
pub fn open_block(number: crate::BlockNumber) {
	open_block_in_slot(number, u64::from(number));
}

/// Open block `number` in Aura `slot` and apply its timestamp inherent.
pub fn open_block_in_slot(number: crate::BlockNumber, slot: u64) {
	start_block(number, slot);
	let now = pallet_timestamp::Call::set { now: slot * SLOT_DURATION };
	let inherent = UncheckedExtrinsic::new_bare(RuntimeCall::Timestamp(now));
	let applied = Executive::apply_extrinsic(inherent).expect("the timestamp inherent applies");
	assert!(applied.is_ok(), "the timestamp inherent dispatches: {applied:?}");
}

/// Produce block `number` with as many of `next`'s transactions as the block takes, until one
/// is refused or `next` has none; returns how many were applied. Panics if a transaction is
/// included but its call fails.
pub fn produce_block(
	number: crate::BlockNumber,
	mut next: impl FnMut() -> Option<UncheckedExtrinsic>,
) -> u32 {
	open_block(number);
	let mut count = 0;
	while let Some(xt) = next() {
		let Ok(result) = Executive::apply_extrinsic(xt) else { break };
		assert!(result.is_ok(), "an included transaction failed: {result:?}");
		count += 1;
	}
	close_block();
	count
}

/// Finalize the open block and keep its hash, as the next block's import does on a node: the
/// next header names it as its parent, and calls that read a block's hash see it.
pub fn close_block() {
	let header = Executive::finalize_block();
	frame_system::BlockHash::<crate::Runtime>::insert(header.number, header.hash());
}

/// The transaction extensions every wallet sends, immortal, with `nonce` and no tip.
pub fn tx_extension(nonce: Nonce) -> TxExtension {
	(
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(0),
		frame_system::WeightReclaim::new(),
	)
}

/// `call` signed by `signer` for this runtime at its next nonce, the way every wallet signs it.
pub fn signed(signer: Sr25519Keyring, call: RuntimeCall) -> UncheckedExtrinsic {
	let who = signer.to_account_id();
	let extension = tx_extension(System::account_nonce(&who));
	let payload = SignedPayload::new(call.clone(), extension.clone()).expect("implicit data");
	let signature = payload.using_encoded(|bytes| signer.sign(bytes));
	UncheckedExtrinsic::new_signed(call, who.into(), Signature::Sr25519(signature), extension)
}
