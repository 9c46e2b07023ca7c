//! `modicum balance`: what the account holds, and why.

use super::*;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Held {
	what: String,
	amount: Balance,
	why: String,
}

/// `modicum balance`: free, the join grant, and what each offer and match holds.
pub(crate) async fn balance(chain: &Chain, output: Output) -> Result<(), CliError> {
	let me = chain.account()?;
	let best = chain.best().await?;
	let data = chain.balances(&me, best.hash).await?;
	let spendable = chain.spendable(&me, best.hash).await?;
	let holds = chain.holds(&me, best.hash).await?;
	let grant = chain.grant(&me, best.hash).await?;
	let mut held = Vec::new();
	for (id, o) in chain.open_job_offers(best.hash).await?.into_iter().filter(|(_, o)| o.creator == me) {
		held.push(Held { what: format!("job offer {id}"), amount: o.deposit, why: format!("deposit of an open job offer; released if cancelled or unmatched by #{}", o.completion_deadline) });
	}
	for (id, o) in chain.open_resource_offers(best.hash).await?.into_iter().filter(|(_, o)| o.provider == me) {
		held.push(Held { what: format!("resource offer {id}"), amount: o.deposit, why: format!("deposit of an open resource offer; released when cancelled or at #{}", o.valid_to) });
	}
	for (id, m) in chain.open_matches(best.hash).await? {
		if m.creator == me {
			held.push(Held { what: format!("match {id} (job {})", m.job_offer), amount: m.job_deposit, why: "job creator's deposit: pays π_c, fees, and π_m plus the penalty if the job creator is found at fault".into() });
		}
		if m.provider == me {
			held.push(Held { what: format!("match {id}"), amount: m.provider_deposit, why: "provider's deposit: pays fees, and π_m plus the penalty if the provider is found at fault".into() });
		}
	}
	let actors = chain.actors(best.hash).await?;
	for (who, info) in &actors.mediators {
		if *who == me {
			held.push(Held { what: "mediator bond".into(), amount: info.bond, why: "held while registered as a mediator".into() });
		}
	}
	for (who, info) in &actors.directories {
		if *who == me {
			held.push(Held { what: "directory bond".into(), amount: info.bond, why: "held while registered as a directory".into() });
		}
	}
	let holds_json: Vec<_> = holds.iter().map(|h| json!({ "reason": format!("{:?}", h.id), "amount": h.amount })).collect();
	let value = json!({
		"account": me.to_ss58check(),
		"free": data.free,
		"reserved": data.reserved,
		"frozen": data.frozen,
		"spendable": spendable,
		"grant": grant,
		"holds": holds_json,
		"held": held,
	});
	emit(output, &value, || {
		let mut text = format!(
			"{} at #{}\n  free {}\n  spendable {}\n  held {}\n",
			me.to_ss58check(), best.number, mdc(data.free), mdc(spendable), mdc(data.reserved)
		);
		for h in &holds {
			text += &format!("    {:?}: {}\n", h.id, mdc(h.amount));
		}
		if let Some(g) = &grant {
			text += &format!(
				"  join grant of {}: {} left for the market's deposits, bonds and fees, {} in them; never transferable, what is left returns to the welfare pool at #{}\n",
				mdc(g.amount), mdc(g.available), mdc(g.committed), g.expires_at
			);
		}
		for h in &held {
			text += &format!("  {:<24} {:>20}  {}\n", h.what, mdc(h.amount), h.why);
		}
		text
	});
	Ok(())
}

