//! A job's story: where it stands now, every deadline and what happens next, and the events
//! that brought it there. Closed matches leave the chain's state, so the CLI keeps what it
//! saw of each job in a journal (`$MODICUM_HOME`, default `~/.local/share/modicum`) and scans
//! blocks only from where it stopped.

use crate::{
	chain::{Chain, ChainError},
	rpc::RpcError,
};
use modicum_common::amount::mdc;
use modicum_runtime::{Balance, BlockNumber, Runtime, RuntimeEvent};
use pallet_market::{
	Event as MarketEvent, JobOfferOf, MarketParametersOf, MatchId, MatchOf, MatchState, OfferId,
	OfferState, Receipt,
};
use serde::{Deserialize, Serialize};
use sp_core::crypto::Ss58Codec;
use std::path::PathBuf;

/// How far back a job never seen by this CLI is looked for, unless `--since` says.
pub const LOOKBACK: BlockNumber = 1_200;

/// The most blocks one command scans (two calls each); the journal goes on from there.
const MAX_SCAN: BlockNumber = 5_000;

/// How far the finalized block may trail the best while a job's ending is awaited.
const FINALITY_LAG: BlockNumber = 20;

/// Blocks after a job's last deadline in which the sweep may still settle it.
const HORIZON_SLACK: BlockNumber = 20;

/// An amount in planck, written as a decimal string: JSON numbers lose precision above 2⁵³
/// and the journal's tagged steps cannot hold 128-bit numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planck(pub Balance);

impl Serialize for Planck {
	fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&self.0.to_string())
	}
}

impl<'de> Deserialize<'de> for Planck {
	fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		let text = String::deserialize(deserializer)?;
		text.parse().map(Planck).map_err(serde::de::Error::custom)
	}
}

/// One step of a job's story, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
	/// The job offer was posted.
	Posted { deposit: Planck, completion_deadline: BlockNumber },
	/// Its owner withdrew it.
	Cancelled,
	/// Its deadline passed unmatched.
	Expired,
	/// A solver matched it.
	Matched { match_id: MatchId, provider: String, mediator: String, directory: String, solver: String },
	/// The provider posted its result.
	ResultPosted { status: String, cpu: u64, memory: u64, storage: u64, bandwidth: u64, digest: Option<String>, reaction_deadline: BlockNumber },
	/// The result was accepted.
	Accepted { job_price: Planck },
	/// The job creator disputed it.
	Rejected { reason: String, mediation_deadline: BlockNumber },
	/// The mediator's verdict.
	Verdict { faulty_party: String, digest: Option<String> },
	/// The match closed with every payment made.
	Closed { ending: String, creator_refund: Planck, provider_refund: Planck, penalty: Planck, welfare_tax: Planck },
}

impl Step {
	/// The step in words.
	pub fn describe(&self) -> String {
		match self {
			Self::Posted { deposit, completion_deadline } => format!("job offer posted, {} held, result due by #{completion_deadline}", mdc(deposit.0)),
			Self::Cancelled => "job offer cancelled, deposit released".into(),
			Self::Expired => "job offer expired unmatched, deposit released".into(),
			Self::Matched { match_id, provider, mediator, solver, .. } => format!("matched as match {match_id}: provider {provider}, mediator {mediator}, solver {solver}"),
			Self::ResultPosted { status, cpu, bandwidth, digest, reaction_deadline, .. } => format!(
				"result posted: {status}, cpu {cpu} ms, bandwidth {bandwidth} KiB, archive {}; accept or reject by #{reaction_deadline}",
				digest.as_deref().unwrap_or("none")
			),
			Self::Accepted { job_price } => format!("result accepted: {} paid to the provider", mdc(job_price.0)),
			Self::Rejected { reason, mediation_deadline } => format!("result rejected ({reason}); mediator's verdict due by #{mediation_deadline}"),
			Self::Verdict { faulty_party, .. } => format!("mediator's verdict: {faulty_party} at fault"),
			Self::Closed { ending, creator_refund, provider_refund, penalty, welfare_tax } => format!(
				"match closed ({ending}): job creator got back {}, provider got back {}, {} forfeited and {} welfare tax to the welfare pool",
				mdc(creator_refund.0), mdc(provider_refund.0), mdc(penalty.0), mdc(welfare_tax.0)
			),
		}
	}
}

/// What the CLI knows of one job offer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobJournal {
	/// The job offer.
	pub job_offer: OfferId,
	/// Its match, once matched.
	pub match_id: Option<MatchId>,
	/// The last block scanned.
	pub scanned_to: BlockNumber,
	/// The last block the job can have events in, once known.
	#[serde(default)]
	pub horizon: Option<BlockNumber>,
	/// The job's bandwidth limit in KiB, once known: no archive of it is larger.
	#[serde(default)]
	pub bandwidth: Option<u64>,
	/// The job creator (SS58), once known.
	#[serde(default)]
	pub creator: Option<String>,
	/// The steps seen, with their blocks.
	pub steps: Vec<(BlockNumber, Step)>,
}

/// The CLI's own data directory for this chain.
pub fn home(chain: &Chain) -> PathBuf {
	data_dir().join(hex::encode(&chain.genesis()[..4]))
}

/// `$MODICUM_HOME`, else `~/.local/share/modicum`: the user's own, never a shared `/tmp`.
pub fn data_dir() -> PathBuf {
	std::env::var_os("MODICUM_HOME").map(PathBuf::from).unwrap_or_else(|| {
		let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| ".".into());
		home.join(".local/share/modicum")
	})
}

fn journal_path(chain: &Chain, id: OfferId) -> PathBuf {
	home(chain).join("jobs").join(format!("{id}.json"))
}

impl JobJournal {
	/// The journal of job offer `id`, empty if never seen.
	pub fn load(chain: &Chain, id: OfferId) -> Option<Self> {
		let text = std::fs::read(journal_path(chain, id)).ok()?;
		serde_json::from_slice(&text).ok()
	}

	/// Writes it (atomically: a crash leaves the old or the new one).
	pub fn save(&self, chain: &Chain) -> std::io::Result<()> {
		let path = journal_path(chain, self.job_offer);
		std::fs::create_dir_all(path.parent().expect("has a parent"))?;
		let tmp = path.with_extension("json.tmp");
		std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("serialises"))?;
		std::fs::rename(tmp, path)
	}

	/// Every job offer with a journal.
	pub fn all(chain: &Chain) -> Vec<Self> {
		let Ok(dir) = std::fs::read_dir(home(chain).join("jobs")) else { return Vec::new() };
		let mut all: Vec<Self> = dir
			.flatten()
			.filter_map(|e| std::fs::read(e.path()).ok())
			.filter_map(|text| serde_json::from_slice(&text).ok())
			.collect();
		all.sort_by_key(|j| j.job_offer);
		all
	}

	/// Whether the job's story has ended.
	pub fn finished(&self) -> bool {
		self.steps.iter().any(|(_, s)| matches!(s, Step::Cancelled | Step::Expired | Step::Closed { .. }))
	}

	fn record(&mut self, block: BlockNumber, event: MarketEvent<Runtime>) {
		let id = self.job_offer;
		let mine = |m: &MatchId| self.match_id == Some(*m);
		let hex = |d: &Option<pallet_market::Digest>| d.map(|d| format!("sha256:{}", hex::encode(d)));
		let step = match event {
			MarketEvent::JobOfferPosted { offer, deposit, completion_deadline, .. } if offer == id => {
				Step::Posted { deposit: Planck(deposit), completion_deadline }
			}
			MarketEvent::OfferCancelled { offer, .. } if offer == id => Step::Cancelled,
			MarketEvent::OfferExpired { offer, .. } if offer == id => Step::Expired,
			MarketEvent::Matched { match_id, job_offer, provider, mediator, directory, solver, .. } if job_offer == id => {
				self.match_id = Some(match_id);
				Step::Matched {
					match_id,
					provider: provider.to_ss58check(),
					mediator: mediator.to_ss58check(),
					directory: directory.to_ss58check(),
					solver: solver.to_ss58check(),
				}
			}
			MarketEvent::ResultPosted { match_id, receipt, reaction_deadline } if mine(&match_id) => Step::ResultPosted {
				status: format!("{:?}", receipt.status),
				cpu: receipt.usage.cpu,
				memory: receipt.usage.memory,
				storage: receipt.usage.storage,
				bandwidth: receipt.usage.bandwidth,
				digest: hex(&receipt.result_digest),
				reaction_deadline,
			},
			MarketEvent::ResultAccepted { match_id, job_price } if mine(&match_id) => Step::Accepted { job_price: Planck(job_price) },
			MarketEvent::JobAssignedForMediation { match_id, reason, mediation_deadline, .. } if mine(&match_id) => {
				Step::Rejected { reason: format!("{reason:?}"), mediation_deadline }
			}
			MarketEvent::MediationResultPosted { match_id, faulty_party, result_digest } if mine(&match_id) => {
				Step::Verdict { faulty_party: format!("{faulty_party:?}"), digest: hex(&result_digest) }
			}
			MarketEvent::MatchClosed { match_id, ending, creator_refund, provider_refund, penalty, welfare_tax } if mine(&match_id) => {
				Step::Closed {
					ending: format!("{ending:?}"),
					creator_refund: Planck(creator_refund),
					provider_refund: Planck(provider_refund),
					penalty: Planck(penalty),
					welfare_tax: Planck(welfare_tax),
				}
			}
			_ => return,
		};
		if !self.steps.iter().any(|(_, s)| *s == step) {
			self.steps.push((block, step));
		}
	}
}

/// A job as it stands.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
	/// The job offer.
	pub job_offer: OfferId,
	/// `open`, `matched`, `result`, `mediation`, `closing`, `closed`, `cancelled`, `expired` or
	/// `unknown`.
	pub state: &'static str,
	/// The best block it was read at.
	pub best: BlockNumber,
	/// What it waits for and what happens at its next deadline.
	pub next: String,
	/// Its match.
	pub match_id: Option<MatchId>,
	/// Its bandwidth limit in KiB, once known.
	pub bandwidth: Option<u64>,
	/// Its creator (SS58), once known.
	pub creator: Option<String>,
	/// The offer while it is on chain.
	pub offer: Option<JobOfferOf<Runtime>>,
	/// The match while it is open.
	#[serde(rename = "match")]
	pub terms: Option<MatchOf<Runtime>>,
	/// The provider's receipt, once posted.
	pub receipt: Option<Receipt>,
	/// The story so far.
	pub history: Vec<(BlockNumber, Step)>,
	/// Whether blocks the node pruned hid part of it.
	pub incomplete: bool,
}

impl JobStatus {
	/// The status in words.
	pub fn describe(&self) -> String {
		let mut text = format!("job {} — {} (best block #{})\n  next: {}\n", self.job_offer, self.state, self.best, self.next);
		if let Some(terms) = &self.terms {
			text += &format!(
				"  match {}: provider {}, mediator {}, directory {}\n  price {} per cpu ms, {} per KiB; fees {} (mediator) + {} (directory); held {} of the job creator's deposit\n",
				self.match_id.unwrap_or_default(),
				terms.provider.to_ss58check(),
				terms.mediator.to_ss58check(),
				terms.directory.to_ss58check(),
				mdc(terms.cpu_price),
				mdc(terms.bandwidth_price),
				mdc(terms.mediator_fee),
				mdc(terms.directory_fee),
				mdc(terms.job_deposit),
			);
		}
		if let Some(receipt) = &self.receipt {
			text += &format!(
				"  receipt: {:?}, cpu {} ms, memory {} MiB, storage {} MiB, bandwidth {} KiB, archive {}\n",
				receipt.status,
				receipt.usage.cpu,
				receipt.usage.memory,
				receipt.usage.storage,
				receipt.usage.bandwidth,
				receipt.result_digest.map(|d| format!("sha256:{}", hex::encode(d))).unwrap_or_else(|| "none".into())
			);
		}
		text += "  history:\n";
		for (block, step) in &self.history {
			text += &format!("    #{block:<7} {}\n", step.describe());
		}
		if self.incomplete {
			text += "    (not every block was read: the node pruned some (run it with --state-pruning archive-canonical), or more remain than one call scans (describe again, or give --since BLOCK))\n";
		}
		text
	}
}

/// Brings the journal of job offer `id` up to the best block and reads its state.
pub async fn track(chain: &Chain, id: OfferId, since: Option<BlockNumber>) -> Result<JobStatus, ChainError> {
	let best = chain.best().await?;
	let offer = chain.job_offer(id, best.hash).await?;
	let known = JobJournal::load(chain, id);
	let mine = known.is_some() || offer.as_ref().is_some_and(|o| chain.account().is_ok_and(|me| me == o.creator));
	let mut journal = known.unwrap_or(JobJournal { job_offer: id, ..Default::default() });
	let mut incomplete = false;
	if let Some(offer) = &offer {
		let parameters = chain.parameters(best.hash).await?;
		journal.bandwidth = Some(offer.limits.bandwidth);
		journal.horizon = Some(horizon(offer, &parameters));
		journal.creator = Some(offer.creator.to_ss58check());
	}
	if !journal.finished() {
		let start = match (since, journal.scanned_to, &offer) {
			(Some(since), _, _) => since,
			(None, scanned, _) if scanned > 0 => scanned + 1,
			// Posted at most MaxJobDuration before its deadline.
			(None, _, Some(offer)) => {
				let parameters = chain.parameters(best.hash).await?;
				offer.completion_deadline.saturating_sub(parameters.max_job_duration)
			}
			(None, _, None) => best.number.saturating_sub(LOOKBACK),
		};
		// Only finalized blocks: a step seen in a block that is reorganised away never enters
		// the journal. Never past the job's last possible event, never more than MAX_SCAN
		// blocks at once.
		let finalized = chain.finalized().await?.number;
		let end = journal.horizon.map_or(finalized, |h| h.min(finalized)).min(start.saturating_add(MAX_SCAN));
		if start <= end {
			incomplete = scan(chain, &mut journal, start, end).await?;
			journal.scanned_to = end;
		}
		incomplete |= end < finalized && journal.horizon.is_none_or(|h| end < h);
	}
	// A match id read from a block that was reorganised away may name another job's match.
	let mut terms = match journal.match_id {
		Some(m) => chain.match_info(m, best.hash).await?.filter(|t| t.job_offer == id),
		None => None,
	};
	if terms.is_none() && !journal.finished() {
		if let Some((m, t)) = chain.open_matches(best.hash).await?.into_iter().find(|(_, m)| m.job_offer == id) {
			journal.match_id = Some(m);
			terms = Some(t);
		}
	}
	if let Some(terms) = &terms {
		journal.bandwidth = Some(terms.limits.bandwidth);
	}
	if mine || terms.as_ref().is_some_and(|t| chain.account().is_ok_and(|me| me == t.creator)) {
		// Best effort: a read-only home only loses the shortcut next time.
		let _ = journal.save(chain);
	}
	let receipt = terms.as_ref().and_then(|t| match t.state {
		MatchState::ResultPosted { receipt, .. } | MatchState::InMediation { receipt, .. } => Some(receipt),
		MatchState::Matched => None,
	});
	let (state, next) = state_and_next(&journal, offer.as_ref(), terms.as_ref(), best.number);
	Ok(JobStatus {
		job_offer: id,
		state,
		best: best.number,
		next,
		match_id: journal.match_id,
		bandwidth: journal.bandwidth,
		creator: journal.creator,
		offer,
		terms,
		receipt,
		history: journal.steps,
		incomplete,
	})
}

/// The last block a job offer can have events in: its deadline, a reaction window with R,
/// and a mediation window with n·R, with a little slack for the sweep.
fn horizon(offer: &JobOfferOf<Runtime>, parameters: &MarketParametersOf<Runtime>) -> BlockNumber {
	let n = parameters.verification_count.max(1);
	offer
		.completion_deadline
		.saturating_add(parameters.reaction_window)
		.saturating_add(parameters.mediation_window)
		.saturating_add(offer.run_length.saturating_mul(n.saturating_add(1)))
		.saturating_add(HORIZON_SLACK)
}

/// Records the job's events of blocks `from..=to`; whether pruned blocks were skipped.
async fn scan(chain: &Chain, journal: &mut JobJournal, from: BlockNumber, to: BlockNumber) -> Result<bool, ChainError> {
	let mut incomplete = false;
	for number in from.max(1)..=to {
		let Some(hash) = chain.block_hash(number).await? else { break };
		match chain.events(hash).await {
			Ok(events) => {
				for (_, event) in events {
					if let RuntimeEvent::Market(event) = event {
						journal.record(number, event);
					}
				}
			}
			// The node answered, but no longer keeps that block's state (pruned); a node that
			// does not answer is an error, and nothing is marked as scanned.
			Err(ChainError::Rpc(RpcError::Node { .. })) => incomplete = true,
			Err(e) => return Err(e),
		}
	}
	Ok(incomplete)
}

fn state_and_next(
	journal: &JobJournal,
	offer: Option<&JobOfferOf<Runtime>>,
	terms: Option<&MatchOf<Runtime>>,
	best: BlockNumber,
) -> (&'static str, String) {
	if let Some(terms) = terms {
		return match terms.state {
			MatchState::Matched => ("matched", format!(
				"the provider runs the job (R = {} blocks) and must post its result by #{} ({} blocks); if it does not, the chain returns π̂_c of its deposit to you",
				terms.run_length, terms.completion_deadline, terms.completion_deadline.saturating_sub(best)
			)),
			MatchState::ResultPosted { reaction_deadline, .. } => ("result", format!(
				"accept (`modicum job accept`), verify (`modicum job verify`) or reject (`modicum job reject`) by #{reaction_deadline} ({} blocks); then the chain accepts it",
				reaction_deadline.saturating_sub(best)
			)),
			MatchState::InMediation { mediation_deadline, reason, .. } => ("mediation", format!(
				"the mediator re-runs the job ({reason:?}) and must post a verdict by #{mediation_deadline} ({} blocks); if it does not, its bond pays ⌊π̂_c/2⌋ to each party",
				mediation_deadline.saturating_sub(best)
			)),
		};
	}
	if let Some(offer) = offer.filter(|o| o.state == OfferState::Open) {
		return ("open", format!(
			"waiting for a solver to match it with a resource offer; unmatched, it expires at #{} ({} blocks) and its deposit is released; `modicum why-no-match {}` shows what each offer lacks",
			offer.completion_deadline, offer.completion_deadline.saturating_sub(best), journal.job_offer
		));
	}
	for (_, step) in journal.steps.iter().rev() {
		match step {
			Step::Closed { ending, .. } => return ("closed", format!("nothing: the match closed ({ending}) and every payment was made")),
			Step::Cancelled => return ("cancelled", "nothing: the offer was cancelled".into()),
			Step::Expired => return ("expired", "nothing: the offer expired unmatched".into()),
			_ => {}
		}
	}
	let seen = journal.match_id.is_some() || journal.steps.iter().any(|(_, s)| matches!(s, Step::Posted { .. }));
	// Scanned up to the finalized block, which trails the best by a few blocks.
	if seen && best.saturating_sub(journal.scanned_to) <= FINALITY_LAG {
		return ("closing", "its offer or match left the chain's state in a block not yet final; its ending shows once that block is finalized".into());
	}
	("unknown", "not on chain and not seen in the scanned blocks: give --since BLOCK to look further back".into())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_journal_keeps_amounts_beyond_64_bits_across_a_save() {
		let journal = JobJournal {
			job_offer: 7,
			match_id: Some(3),
			scanned_to: 40,
			horizon: Some(200),
			bandwidth: Some(64),
			creator: None,
			steps: vec![
				(10, Step::Posted { deposit: Planck(u128::MAX), completion_deadline: 90 }),
				(40, Step::Closed { ending: "Accepted".into(), creator_refund: Planck(1 << 100), provider_refund: Planck(0), penalty: Planck(5), welfare_tax: Planck(0) }),
			],
		};
		let text = serde_json::to_vec(&journal).unwrap();
		let back: JobJournal = serde_json::from_slice(&text).unwrap();
		assert_eq!(back.steps, journal.steps);
		assert!(back.finished());
	}
}
