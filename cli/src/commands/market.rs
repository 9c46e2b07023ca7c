//! `modicum offers` and `modicum why-no-match`: the open market and why a job is not matched.

use super::*;

/// `modicum offers`: the open resource and job offers.
pub(crate) async fn offers(chain: &Chain, output: Output) -> Result<(), CliError> {
	let best = chain.best().await?;
	let resource = chain.open_resource_offers(best.hash).await?;
	let jobs = chain.open_job_offers(best.hash).await?;
	emit(output, &json!({ "resourceOffers": resource, "jobOffers": jobs }), || {
		let mut text = format!("resource offers (best #{}):\n", best.number);
		for (id, o) in &resource {
			text += &format!(
				"  {id:<5} {}: cpu {} ms, memory {} MiB, storage {} MiB, bandwidth {} KiB; asks {} per ms, {} per KiB; until #{}\n",
				o.provider.to_ss58check(), o.capacity.cpu, o.capacity.memory, o.capacity.storage, o.capacity.bandwidth,
				mdc(o.cpu_price), mdc(o.bandwidth_price), o.valid_to
			);
		}
		text += "job offers:\n";
		for (id, o) in &jobs {
			text += &format!(
				"  {id:<5} {}: {}; cpu {} ms, memory {} MiB; bids {} per ms; due #{}\n",
				o.creator.to_ss58check(), image_name(&o.image), o.limits.cpu, o.limits.memory, mdc(o.cpu_bid), o.completion_deadline
			);
		}
		text
	});
	Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OfferCheck {
	resource_offer: OfferId,
	provider: String,
	mediator: String,
	feasible: bool,
	minimum_deposit: Option<Balance>,
	failed_check: Option<modicum_cli::chain::Refusal>,
}

pub(crate) async fn why_no_match(chain: &Chain, output: Output, job: OfferId) -> Result<(), CliError> {
	let best = chain.best().await?;
	let offer = chain
		.job_offer(job, best.hash)
		.await?
		.ok_or_else(|| CliError::Usage(format!("job offer {job} is not on chain (matched and closed, cancelled or expired): see `modicum job describe {job}`")))?;
	let actors = chain.actors(best.hash).await?;
	let mediators: Vec<AccountId> = actors
		.job_creators
		.iter()
		.find(|(who, _)| *who == offer.creator)
		.map(|(_, info)| info.trusted_mediators.to_vec())
		.unwrap_or_default();
	let mut checks = Vec::new();
	for (id, resource) in chain.open_resource_offers(best.hash).await? {
		// The check of the most promising mediator: feasible with any, else the first's answer.
		let mut best_check = None;
		for mediator in &mediators {
			let answer = chain.check_match(job, id, mediator, best.hash).await?;
			let check = OfferCheck {
				resource_offer: id,
				provider: resource.provider.to_ss58check(),
				mediator: mediator.to_ss58check(),
				feasible: answer.is_ok(),
				minimum_deposit: answer.as_ref().ok().copied(),
				failed_check: answer.err().map(|e| refusal(&e)),
			};
			let feasible = check.feasible;
			if best_check.is_none() || feasible {
				best_check = Some(check);
			}
			if feasible {
				break;
			}
		}
		checks.extend(best_check);
	}
	let text = || {
		let mut text = format!("job offer {job} against {} open resource offer(s) at #{}:\n", checks.len(), best.number);
		if mediators.is_empty() {
			text += "  its creator trusts no mediator: no match is possible\n";
		}
		for c in &checks {
			match &c.failed_check {
				None => text += &format!("  {:<5} {}: feasible with mediator {} (d_min {})\n", c.resource_offer, c.provider, c.mediator, mdc(c.minimum_deposit.unwrap_or_default())),
				Some(r) => text += &format!("  {:<5} {}: fails {r}\n", c.resource_offer, c.provider),
			}
		}
		if checks.is_empty() {
			text += "  there are no open resource offers: providers offer again when they are free\n";
		}
		text
	};
	emit(output, &checks, text);
	Ok(())
}

