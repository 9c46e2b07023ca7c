//! A nominal match and a mediated match driven on the real dev chain with signed extrinsics over
//! JSON-RPC, with the `market_*` RPC answering along the way.

mod common;

use common::*;
use modicum_runtime::{
	genesis_config_presets::market_parameters, Balance, BlockNumber, RuntimeCall, RuntimeEvent,
	MDC, MILLI_MDC,
};
use pallet_market::{
	Architecture, Call as MarketCall, Ending, Event as MarketEvent, ImageOf, MatchId, MaxFees,
	OfferId, Party, RejectReason, Resources, ResultStatus, Role,
};
use serde_json::json;
use sp_keyring::Sr25519Keyring::{self, Alice, Bob, Charlie, Dave, Eve};

const JC: Sr25519Keyring = Alice;
const RP: Sr25519Keyring = Bob;
const MEDIATOR: Sr25519Keyring = Charlie;
const DIRECTORY: Sr25519Keyring = Dave;
const SOLVER: Sr25519Keyring = Eve;
const FEE: Balance = MILLI_MDC;
const DEPOSIT: Balance = MDC;
const BASE_LAYER: [u8; 32] = [1; 32];
const LIMITS: Resources = Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 };
const USAGE: Resources = Resources { cpu: 500, memory: 20, storage: 1, bandwidth: 200 };
const BID: Balance = 1_000_000;
const ASK: Balance = 500_000;

fn market(call: MarketCall<modicum_runtime::Runtime>) -> RuntimeCall {
	RuntimeCall::Market(call)
}

fn market_events(events: Vec<RuntimeEvent>) -> Vec<MarketEvent<modicum_runtime::Runtime>> {
	events
		.into_iter()
		.filter_map(|event| match event {
			RuntimeEvent::Market(event) => Some(event),
			_ => None,
		})
		.collect()
}

fn register_roles(rpc: &Rpc) {
	let bond = market_parameters().min_bond;
	submit(
		rpc,
		DIRECTORY,
		market(MarketCall::register_directory {
			endpoint: b"http://127.0.0.1:5000".to_vec().try_into().unwrap(),
			fee: FEE,
			trusted_mediators: Default::default(),
			bond,
		}),
	);
	submit(
		rpc,
		MEDIATOR,
		market(MarketCall::register_mediator {
			architecture: Architecture::Amd64,
			capacity: Resources { cpu: 60_000, memory: 1_024, storage: 1_024, bandwidth: 65_536 },
			slots: 1,
			fee: FEE,
			trusted_directories: vec![DIRECTORY.to_account_id()].try_into().unwrap(),
			base_layers: vec![BASE_LAYER].try_into().unwrap(),
			bond,
		}),
	);
	// The directory names the mediator as a judge of its availability once it is registered.
	submit(
		rpc,
		DIRECTORY,
		market(MarketCall::trust_mediator { role: Role::Directory, mediator: MEDIATOR.to_account_id() }),
	);
	submit(
		rpc,
		JC,
		market(MarketCall::register_job_creator {
			trusted_mediators: vec![MEDIATOR.to_account_id()].try_into().unwrap(),
		}),
	);
	submit(
		rpc,
		RP,
		market(MarketCall::register_resource_provider {
			architecture: Architecture::Amd64,
			speed: 1_000,
			trusted_mediators: vec![MEDIATOR.to_account_id()].try_into().unwrap(),
			trusted_directories: vec![DIRECTORY.to_account_id()].try_into().unwrap(),
			base_layers: vec![BASE_LAYER].try_into().unwrap(),
		}),
	);
}

/// Posts one job offer and one resource offer; returns their ids.
fn post_offers(rpc: &Rpc) -> (OfferId, OfferId) {
	let now = header_number(rpc, None) as BlockNumber;
	let events = submit(
		rpc,
		JC,
		market(MarketCall::post_job_offer {
			limits: LIMITS,
			architecture: Architecture::Amd64,
			image: ImageOf {
				repository: b"jobs/fib".to_vec().try_into().unwrap(),
				digest: [7; 32],
			},
			base_layer: BASE_LAYER,
			directory: DIRECTORY.to_account_id(),
			cpu_bid: BID,
			bandwidth_bid: BID,
			completion_deadline: now + 100,
			max_fees: MaxFees { mediator: FEE, directory: FEE },
			min_reputation: None,
			deposit: DEPOSIT,
		}),
	);
	let job = market_events(events)
		.into_iter()
		.find_map(|e| match e {
			MarketEvent::JobOfferPosted { offer, .. } => Some(offer),
			_ => None,
		})
		.expect("JobOfferPosted");
	let events = submit(
		rpc,
		RP,
		market(MarketCall::post_resource_offer {
			capacity: Resources { cpu: 10_000, memory: 512, storage: 64, bandwidth: 10_000 },
			architecture: Architecture::Amd64,
			cpu_price: ASK,
			bandwidth_price: ASK,
			valid_from: now,
			valid_to: now + 200,
			max_fees: MaxFees { mediator: FEE, directory: FEE },
			deposit: DEPOSIT,
		}),
	);
	let resource = market_events(events)
		.into_iter()
		.find_map(|e| match e {
			MarketEvent::ResourceOfferPosted { offer, .. } => Some(offer),
			_ => None,
		})
		.expect("ResourceOfferPosted");
	(job, resource)
}

/// The solver checks the match over RPC, posts it, and the provider posts its result.
fn match_and_post_result(rpc: &Rpc, job: OfferId, resource: OfferId) -> MatchId {
	let offers = rpc.call("market_openOffers", json!([]));
	assert!(offers["jobOffers"].as_array().unwrap().iter().any(|o| o[0] == job));
	let check =
		rpc.call("market_checkMatch", json!([job, resource, MEDIATOR.to_account_id().to_string()]));
	assert_eq!(check["feasible"], true, "{check}");

	let events = submit(
		rpc,
		SOLVER,
		market(MarketCall::post_match {
			job_offer: job,
			resource_offer: resource,
			mediator: MEDIATOR.to_account_id(),
		}),
	);
	let match_id = market_events(events)
		.into_iter()
		.find_map(|e| match e {
			MarketEvent::Matched { match_id, .. } => Some(match_id),
			_ => None,
		})
		.expect("Matched");
	let info = rpc.call("market_match", json!([match_id]));
	assert_eq!(info["state"], "matched", "{info}");

	submit(
		rpc,
		RP,
		market(MarketCall::post_result {
			match_id,
			status: ResultStatus::Completed,
			usage: USAGE,
			result_digest: Some([9; 32]),
		}),
	);
	match_id
}

fn closed(events: Vec<RuntimeEvent>) -> (Ending, Balance, Balance, Balance) {
	market_events(events)
		.into_iter()
		.find_map(|e| match e {
			MarketEvent::MatchClosed {
				ending, creator_refund, provider_refund, penalty, ..
			} => Some((ending, creator_refund, provider_refund, penalty)),
			_ => None,
		})
		.expect("MatchClosed")
}

#[test]
fn a_nominal_match_and_a_mediated_match_on_the_dev_chain() {
	let node = start_dev_node();
	let rpc = &node.rpc;
	register_roles(rpc);
	let incentive = market_parameters().match_incentive;
	let price = (USAGE.cpu + USAGE.bandwidth) as Balance * ASK;
	let estimate = (LIMITS.cpu + LIMITS.bandwidth) as Balance * BID;

	// Nominal: the job creator accepts; the provider is paid π_c, both pay both fees.
	let (job, resource) = post_offers(rpc);
	let match_id = match_and_post_result(rpc, job, resource);
	let events = submit(rpc, JC, market(MarketCall::accept_result { match_id }));
	assert_eq!(
		closed(events),
		(Ending::Accepted, DEPOSIT - incentive - price - 2 * FEE, DEPOSIT - incentive - 2 * FEE, 0)
	);

	// Mediated: the job creator disputes, the mediator faults the provider, who pays π_m,
	// both fees and π_d = π_c, and forfeits the rest to the welfare pool.
	let (job, resource) = post_offers(rpc);
	let match_id = match_and_post_result(rpc, job, resource);
	submit(
		rpc,
		JC,
		market(MarketCall::reject_result { match_id, reason: RejectReason::WrongResults }),
	);
	let events = submit(
		rpc,
		MEDIATOR,
		market(MarketCall::post_mediation_result {
			match_id,
			faulty_party: Party::ResourceProvider,
			result_digest: Some([8; 32]),
		}),
	);
	let mediation = estimate * market_parameters().verification_count as Balance;
	assert_eq!(
		closed(events),
		(
			Ending::Mediated(Party::ResourceProvider),
			DEPOSIT - incentive - 2 * FEE,
			0,
			DEPOSIT - incentive - mediation - 2 * FEE - price
		)
	);

	// π̂_c is below the minimum reputation price: neither match counted, and the RPC says so.
	let reputation =
		rpc.call("market_reputation", json!([RP.to_account_id().to_string(), "resourceProvider"]));
	assert_eq!(
		(reputation["score"].as_u64(), reputation["counted"].as_u64()),
		(Some(500_000_000), Some(0)),
		"{reputation}"
	);

	// With no open match left, the mediator may leave and take its bond back.
	submit(rpc, MEDIATOR, market(MarketCall::deregister { role: Role::Mediator }));
}
