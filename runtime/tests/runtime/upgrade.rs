//! In-place upgrades from each kept release (`runtime/releases/<n>/chain-spec.json`, the
//! release's own wasm inside): the old runtime's wasm builds genesis and runs a market with
//! bonds, reputation, open offers and a match in flight, block by block as a node would; sudo
//! sets this build's wasm; the blocks after it run the new wasm, whose migrations carry every
//! one of them on.

use codec::{Decode, Encode};
use frame_support::traits::{
	fungible::{Inspect, InspectHold},
	OnRuntimeUpgrade,
};
use modicum_runtime::{
	migrations::{Migrations, ValidatorsFromFixedAuthorities},
	testing::tx_extension,
	*,
};
use pallet_market::{
	Architecture, ImageOf, MatchState, MaxFees, Resources, ResultStatus, Role, TrustListOf,
};
use sc_executor::{WasmExecutionMethod, WasmExecutor};
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_core::traits::{CallContext, CodeExecutor, ReadRuntimeVersionExt, RuntimeCode};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	generic::{Digest, DigestItem},
	traits::Header as _,
	ApplyExtrinsicResult, BuildStorage,
};
use std::{collections::BTreeMap, path::PathBuf};

type Executor = WasmExecutor<sp_io::SubstrateHostFunctions>;
type Market = pallet_market::Pallet<Runtime>;

/// A chain at the genesis of every kept release older than this build, oldest first.
fn older_releases() -> Vec<(u32, Chain)> {
	let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("releases");
	let mut releases: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
		.expect("runtime/releases exists")
		.filter_map(|entry| {
			let entry = entry.ok()?;
			let release = entry.file_name().to_str()?.parse().ok()?;
			Some((release, entry.path().join("chain-spec.json")))
		})
		.collect();
	releases.sort();
	releases
		.into_iter()
		.filter_map(|(release, spec)| {
			let mut chain = Chain::from_spec(&spec);
			let version = chain.version();
			assert_eq!(version.spec_name, VERSION.spec_name, "{}", spec.display());
			(version.spec_version < VERSION.spec_version).then_some((release, chain))
		})
		.collect()
}

/// One executor for every chain of the tests, so each wasm compiles once.
fn executor() -> Executor {
	static EXECUTOR: std::sync::OnceLock<Executor> = std::sync::OnceLock::new();
	EXECUTOR
		.get_or_init(|| {
			Executor::builder().with_execution_method(WasmExecutionMethod::default()).build()
		})
		.clone()
}

/// A chain run by whatever wasm its state holds, as a node runs it.
struct Chain {
	ext: sp_io::TestExternalities,
	executor: Executor,
	number: BlockNumber,
	parent: Hash,
	genesis: Hash,
	nonces: BTreeMap<AccountId, Nonce>,
}

impl Chain {
	/// Genesis from a chain spec, built by the spec's own wasm.
	fn from_spec(path: &std::path::Path) -> Self {
		let json = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
		let spec = sc_chain_spec::GenericChainSpec::<()>::from_json_bytes(json).expect("a spec");
		let mut storage = spec.build_storage().expect("the release's wasm builds its genesis");
		let code = storage.top.remove(sp_core::storage::well_known_keys::CODE).expect(":code");
		let executor = executor();
		let mut ext = sp_io::TestExternalities::new_with_code(&code, storage);
		ext.register_extension(ReadRuntimeVersionExt::new(executor.clone()));
		let genesis = Hash::repeat_byte(0x0a);
		Chain { ext, executor, number: 0, parent: genesis, genesis, nonces: BTreeMap::new() }
	}

	/// The wasm in the state.
	fn code(&mut self) -> Vec<u8> {
		self.ext.execute_with(|| sp_io::storage::get(b":code")).expect(":code").to_vec()
	}

	/// Calls the runtime API `method` of `code`.
	fn call_code(&mut self, code: &[u8], method: &str, data: &[u8]) -> Vec<u8> {
		let fetch = sp_core::traits::WrappedRuntimeCode(code.into());
		let runtime_code = RuntimeCode {
			code_fetcher: &fetch,
			heap_pages: None,
			hash: sp_io::hashing::blake2_256(code).to_vec(),
		};
		let mut ext = self.ext.ext();
		self.executor
			.call(&mut ext, &runtime_code, method, data, CallContext::Onchain { import: false })
			.0
			.unwrap_or_else(|e| panic!("{method}: {e}"))
	}

	fn version(&mut self) -> sp_version::RuntimeVersion {
		let code = self.code();
		self.version_of(&code)
	}

	fn version_of(&mut self, code: &[u8]) -> sp_version::RuntimeVersion {
		Decode::decode(&mut &self.call_code(code, "Core_version", &[])[..]).expect("a version")
	}

	/// Applies `xt` with `code`; panics unless it is included and its call succeeds.
	fn apply(&mut self, code: &[u8], xt: UncheckedExtrinsic) {
		let result = self.call_code(code, "BlockBuilder_apply_extrinsic", &xt.encode());
		let result = ApplyExtrinsicResult::decode(&mut &result[..]).expect("a result");
		assert!(
			matches!(result, Ok(Ok(()))),
			"block #{}: {:?}: {result:?}",
			self.number,
			xt.function
		);
	}

	/// Produces the next block with `calls`, each signed by its sender.
	fn block(&mut self, calls: Vec<(Sr25519Keyring, RuntimeCall)>) {
		self.number += 1;
		let slot = u64::from(self.number);
		let header = Header::new(
			self.number,
			Default::default(),
			Default::default(),
			self.parent,
			Digest {
				logs: vec![DigestItem::PreRuntime(AURA_ENGINE_ID, Slot::from(slot).encode())],
			},
		);
		// A node runs the whole block with its parent's code, even one that sets new code.
		let code = self.code();
		self.call_code(&code, "Core_initialize_block", &header.encode());
		let now = pallet_timestamp::Call::set { now: slot * SLOT_DURATION };
		self.apply(&code, UncheckedExtrinsic::new_bare(RuntimeCall::Timestamp(now)));
		let version = self.version_of(&code);
		for (signer, call) in calls {
			let xt = self.sign(signer, call, &version);
			self.apply(&code, xt);
		}
		let finalized = self.call_code(&code, "BlockBuilder_finalize_block", &[]);
		let header = Header::decode(&mut &finalized[..]).expect("a header");
		self.parent = header.hash();
	}

	fn blocks_until(&mut self, number: BlockNumber) {
		while self.number < number {
			self.block(vec![]);
		}
	}

	/// `call` signed by `signer` for the runtime of `version`, as a wallet signs it.
	fn sign(
		&mut self,
		signer: Sr25519Keyring,
		call: RuntimeCall,
		version: &sp_version::RuntimeVersion,
	) -> UncheckedExtrinsic {
		let who = signer.to_account_id();
		let nonce = self.nonces.entry(who.clone()).or_default();
		let extension = tx_extension(*nonce);
		*nonce += 1;
		let implicit = (
			(),
			version.spec_version,
			version.transaction_version,
			self.genesis,
			self.genesis,
			(),
			(),
			(),
			(),
		);
		let payload = SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
		let signature = payload.using_encoded(|bytes| signer.sign(bytes));
		UncheckedExtrinsic::new_signed(call, who.into(), Signature::Sr25519(signature), extension)
	}

	/// Reads state with this build's types (the old layout is the same or migrated).
	fn read<R>(&mut self, read: impl FnOnce() -> R) -> R {
		self.ext.execute_with(read)
	}
}

const JOB_CREATOR: Sr25519Keyring = Sr25519Keyring::Eve;
const PROVIDER: Sr25519Keyring = Sr25519Keyring::Ferdie;
const MEDIATOR: Sr25519Keyring = Sr25519Keyring::Charlie;
const DIRECTORY: Sr25519Keyring = Sr25519Keyring::Dave;
const SOLVER: Sr25519Keyring = Sr25519Keyring::Bob;
const SUDO: Sr25519Keyring = Sr25519Keyring::Alice;
const DEPOSIT: Balance = 20 * MDC;
/// Per cpu unit: π̂_c = 0.2 MDC, above the chain's `min_reputation_price`, so matches count.
const CPU_PRICE: Balance = 100 * MICRO_MDC;
const FEE: Balance = 10 * MILLI_MDC;
const LAYER: [u8; 32] = [1; 32];
const LIMITS: Resources = Resources { cpu: 2_000, memory: 64, storage: 10, bandwidth: 1_000 };
const USAGE: Resources = Resources { cpu: 1_500, memory: 30, storage: 1, bandwidth: 500 };

fn market(call: pallet_market::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Market(call)
}

fn trust(who: &[Sr25519Keyring]) -> TrustListOf<Runtime> {
	who.iter().map(|k| k.to_account_id()).collect::<Vec<_>>().try_into().expect("fits")
}

fn registrations() -> Vec<Vec<(Sr25519Keyring, RuntimeCall)>> {
	use pallet_market::Call::*;
	let capacity = Resources { cpu: 100_000, memory: 1_024, storage: 1_024, bandwidth: 100_000 };
	vec![
		vec![
			(
				DIRECTORY,
				market(register_directory {
					endpoint: b"http://127.0.0.1:5000".to_vec().try_into().unwrap(),
					fee: FEE,
					trusted_mediators: trust(&[]),
					bond: 100 * MDC,
				}),
			),
			(
				MEDIATOR,
				market(register_mediator {
					architecture: Architecture::Amd64,
					capacity,
					slots: 1,
					fee: FEE,
					trusted_directories: trust(&[DIRECTORY]),
					base_layers: vec![LAYER].try_into().unwrap(),
					bond: 100 * MDC,
				}),
			),
		],
		vec![
			(
				DIRECTORY,
				market(trust_mediator {
					role: Role::Directory,
					mediator: MEDIATOR.to_account_id(),
				}),
			),
			(JOB_CREATOR, market(register_job_creator { trusted_mediators: trust(&[MEDIATOR]) })),
			(
				PROVIDER,
				market(register_resource_provider {
					architecture: Architecture::Amd64,
					speed: 2_000,
					trusted_mediators: trust(&[MEDIATOR]),
					trusted_directories: trust(&[DIRECTORY]),
					base_layers: vec![LAYER].try_into().unwrap(),
				}),
			),
		],
	]
}

/// A job offer and a resource offer that match each other, posted at block `now`.
fn offers(now: BlockNumber) -> Vec<(Sr25519Keyring, RuntimeCall)> {
	use pallet_market::Call::*;
	let max_fees = MaxFees { mediator: FEE, directory: FEE };
	vec![
		(
			PROVIDER,
			market(post_resource_offer {
				capacity: Resources { cpu: 10_000, memory: 512, storage: 100, bandwidth: 10_000 },
				architecture: Architecture::Amd64,
				cpu_price: CPU_PRICE,
				bandwidth_price: 1,
				valid_from: now,
				valid_to: now + 500,
				max_fees: max_fees.clone(),
				deposit: DEPOSIT,
			}),
		),
		(
			JOB_CREATOR,
			market(post_job_offer {
				limits: LIMITS,
				architecture: Architecture::Amd64,
				image: ImageOf::<Runtime> {
					repository: b"jobs/upgrade".to_vec().try_into().unwrap(),
					digest: [7; 32],
				},
				base_layer: LAYER,
				directory: DIRECTORY.to_account_id(),
				cpu_bid: CPU_PRICE,
				bandwidth_bid: 1,
				completion_deadline: now + 200,
				max_fees,
				min_reputation: None,
				deposit: DEPOSIT,
			}),
		),
	]
}

/// Posts a match of the two offers posted last, and its provider's result.
fn match_and_result(chain: &mut Chain) -> pallet_market::MatchId {
	use pallet_market::Call::*;
	let next_offer = chain.read(pallet_market::NextOfferId::<Runtime>::get);
	let match_id = chain.read(pallet_market::NextMatchId::<Runtime>::get);
	chain.block(vec![(
		SOLVER,
		market(post_match {
			job_offer: next_offer - 1,
			resource_offer: next_offer - 2,
			mediator: MEDIATOR.to_account_id(),
		}),
	)]);
	chain.block(vec![(
		PROVIDER,
		market(post_result {
			match_id,
			status: ResultStatus::Completed,
			usage: USAGE,
			result_digest: Some([9; 32]),
		}),
	)]);
	match_id
}

fn sorted(mut accounts: Vec<AccountId>) -> Vec<AccountId> {
	accounts.sort();
	accounts
}

fn held(who: Sr25519Keyring) -> Balance {
	let who = who.to_account_id();
	[
		pallet_market::HoldReason::Bond,
		pallet_market::HoldReason::JobDeposit,
		pallet_market::HoldReason::ResourceDeposit,
	]
	.into_iter()
	.map(|reason| Balances::balance_on_hold(&RuntimeHoldReason::Market(reason), &who))
	.sum()
}

/// The market's migration to storage version 1, with the terms this runtime gives it.
type JoinGrantsFromRelease1 =
	pallet_market::migrations::v1::InitJoinGrants<Runtime, configs::ReleaseOneGrantTerms>;

#[test]
fn a_chain_of_each_older_release_upgrades_in_place_with_its_market_in_flight() {
	let releases = older_releases();
	assert!(!releases.is_empty(), "a release older than this build is kept in runtime/releases");
	for (release, chain) in releases {
		upgrade_in_place(release, chain);
	}
}

fn upgrade_in_place(release: u32, mut chain: Chain) {
	use pallet_market::Call::*;
	let old = chain.version();
	let issuance = chain.read(Balances::total_issuance);

	// Before: bonds, a settled match (reputation), a match in flight, open offers.
	for calls in registrations() {
		chain.block(calls);
	}
	chain.block(offers(chain.number + 1));
	let settled = match_and_result(&mut chain);
	chain.block(vec![(JOB_CREATOR, market(accept_result { match_id: settled }))]);
	let reputation = chain.read(|| {
		pallet_market::Reputations::<Runtime>::get(PROVIDER.to_account_id(), Role::ResourceProvider)
	});
	assert_ne!(reputation, Default::default(), "release {release}: a settled match counts");
	chain.block(offers(chain.number + 1));
	let in_flight = match_and_result(&mut chain);
	// Offers no solver matched before the upgrade.
	chain.block(offers(chain.number + 1));
	let open_offers = chain.read(pallet_market::NextOfferId::<Runtime>::get);
	for who in [JOB_CREATOR, PROVIDER, MEDIATOR, DIRECTORY] {
		assert!(chain.read(|| held(who)) > 0, "release {release}: {who:?} holds a deposit or bond");
	}
	let authorities = chain.read(pallet_aura::Authorities::<Runtime>::get);
	// Release 0's validators are its Aura keys' accounts; later releases have a session.
	let validators = sorted(chain.read(|| {
		let session = Session::validators();
		if !session.is_empty() {
			return session;
		}
		authorities.iter().map(|a| AccountId::from(a.clone().into_inner())).collect()
	}));
	let before = chain
		.read(ValidatorsFromFixedAuthorities::check_before)
		.unwrap_or_else(|e| panic!("release {release}'s validators: {e:?}"));
	chain
		.read(JoinGrantsFromRelease1::check_before)
		.unwrap_or_else(|e| panic!("release {release} has no grants: {e:?}"));
	let pool = chain.read(|| Balances::balance(&Market::account_id()));

	// The upgrade, through sudo, as an operator sends it.
	let code = modicum_runtime::WASM_BINARY.expect("this build's wasm").to_vec();
	let set_code = RuntimeCall::System(frame_system::Call::set_code { code });
	chain.block(vec![(
		SUDO,
		RuntimeCall::Sudo(pallet_sudo::Call::sudo_unchecked_weight {
			call: Box::new(set_code.into()),
			weight: Default::default(),
		}),
	)]);
	chain.block(vec![]);
	let new = chain.version();
	assert!(new.spec_version > old.spec_version, "release {release}: the new wasm runs");
	assert_eq!(new.spec_version, VERSION.spec_version);

	// The migration ran on the upgrade's first block: release 0's validators are the session's
	// and invulnerable, and the next block's fees reach its author's account.
	chain.read(|| ValidatorsFromFixedAuthorities::check_after(before)).expect("migrated");
	// The penalty pool is the welfare pool, as it was; the chain has grant terms.
	chain.read(JoinGrantsFromRelease1::check_after).expect("grant terms stored");
	chain.read(|| {
		use frame_support::traits::GetStorageVersion;
		assert_eq!(Market::on_chain_storage_version(), Market::in_code_storage_version());
		assert_eq!(Balances::balance(&Market::account_id()), pool, "release {release}: the pool");
	});
	chain.read(|| {
		assert_eq!(sorted(Session::validators()), validators, "release {release}: session");
		let invulnerables = pallet_collator_selection::Invulnerables::<Runtime>::get().to_vec();
		assert_eq!(invulnerables, validators, "release {release}: invulnerables");
	});
	// A session's first block takes no transactions.
	if (chain.number + 1) % configs::SESSION_PERIOD == 0 {
		chain.block(vec![]);
	}
	let session = chain.read(Session::validators);
	let author = session[(chain.number as usize + 1) % session.len()].clone();
	let earned = chain.read(|| Balances::balance(&author));
	chain.block(vec![(
		JOB_CREATOR,
		RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: PROVIDER.to_account_id().into(),
			value: MDC,
		}),
	)]);
	let fees: Balance = chain.read(|| {
		System::events()
			.into_iter()
			.filter_map(|record| match record.event {
				RuntimeEvent::TransactionPayment(
					pallet_transaction_payment::Event::TransactionFeePaid { actual_fee, .. },
				) => Some(actual_fee),
				_ => None,
			})
			.sum()
	});
	assert!(fees > 0);
	assert_eq!(
		chain.read(|| Balances::balance(&author)),
		earned + fees,
		"the author earns the fees"
	);

	// After: the match in flight settles, open offers and bonds release, nothing is minted.
	let in_flight_state = chain.read(|| pallet_market::Matches::<Runtime>::get(in_flight));
	assert!(
		matches!(in_flight_state.map(|m| m.state), Some(MatchState::ResultPosted { .. })),
		"release {release}: the match in flight carries on"
	);
	chain.block(vec![
		(JOB_CREATOR, market(accept_result { match_id: in_flight })),
		(JOB_CREATOR, market(cancel_job_offer { offer: open_offers - 1 })),
		(PROVIDER, market(cancel_resource_offer { offer: open_offers - 2 })),
	]);
	chain.block(vec![
		(MEDIATOR, market(deregister { role: Role::Mediator })),
		(DIRECTORY, market(deregister { role: Role::Directory })),
	]);
	for who in [JOB_CREATOR, PROVIDER, MEDIATOR, DIRECTORY] {
		assert_eq!(chain.read(|| held(who)), 0, "release {release}: {who:?} holds nothing");
	}
	assert!(chain.read(|| pallet_market::Matches::<Runtime>::get(in_flight)).is_none());
	assert_eq!(chain.read(Balances::total_issuance), issuance, "release {release}: supply");
	chain.read(|| Market::do_try_state()).expect("the market's invariants hold");

	// The validators carry on across session boundaries with their keys.
	chain.blocks_until(chain.number + 2 * configs::SESSION_PERIOD + 1);
	chain.read(|| {
		assert!(pallet_session::CurrentIndex::<Runtime>::get() >= 2, "sessions rotate");
		let mut before: Vec<_> = authorities.to_vec();
		let mut after: Vec<_> = pallet_aura::Authorities::<Runtime>::get().to_vec();
		before.sort();
		after.sort();
		assert_eq!(before, after, "release {release}: the same validators author");
		assert_eq!(Grandpa::grandpa_authorities().len(), before.len());
		assert_eq!(Balances::total_issuance(), issuance);
		Market::do_try_state().expect("the market's invariants hold");
	});
}

#[test]
fn the_migrations_check_release_0s_validators_before_and_after() {
	let (_, mut chain) = older_releases().into_iter().next().expect("release 0 is kept");
	chain.read(|| {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		let before = ValidatorsFromFixedAuthorities::check_before().expect("release 0's state");
		Migrations::on_runtime_upgrade();
		ValidatorsFromFixedAuthorities::check_after(before).expect("its validators carry on");
		assert_eq!(pallet_session::Validators::<Runtime>::get().len(), aura.len());
		// Running it again changes nothing.
		let root = sp_io::storage::root(sp_runtime::StateVersion::V1);
		let before = ValidatorsFromFixedAuthorities::check_before().expect("migrated state");
		Migrations::on_runtime_upgrade();
		ValidatorsFromFixedAuthorities::check_after(before).expect("nothing to check");
		assert_eq!(sp_io::storage::root(sp_runtime::StateVersion::V1), root);
		Market::do_try_state().expect("the market's invariants hold");
	});
}
