//! `modicum verifier`: the job creator's verifier over every open match of the account.

use super::*;

/// `modicum verifier`: decides every result of the account's jobs as they come.
pub(crate) async fn run_verifier(chain: &Chain, registries: &Registries, output: Output, requested: Option<f64>) -> Result<(), CliError> {
	let me = chain.account()?;
	let verifier = Verifier::start(chain, registries).await?;
	progress(format!("verifier for {}: deciding every result of its jobs", me.to_ss58check()));
	let mut decided = std::collections::BTreeSet::new();
	// One task per result, so a long re-run never pushes another match past its deadline.
	let mut running = tokio::task::JoinSet::new();
	let mut block = 0;
	loop {
		while let Some(Ok((id, verified))) = running.try_join_next() {
			report_decision(output, id, verified);
		}
		// A node that stops answering is waited for, never the verifier's end.
		let open = match chain.next_block(block).await {
			Ok(best) => {
				block = best.number;
				chain.open_matches(best.hash).await
			}
			Err(e) => Err(e),
		};
		let open = match open {
			Ok(open) => open,
			Err(e) => {
				progress(format!("{e}; trying again"));
				tokio::time::sleep(std::time::Duration::from_secs(5)).await;
				continue;
			}
		};
		// Only open matches need remembering.
		decided.retain(|id| open.iter().any(|(open, _)| open == id));
		for (id, terms) in open {
			let waiting = terms.creator == me && matches!(terms.state, MatchState::ResultPosted { .. });
			// Each result is decided once: a decision that did not land leaves the result to
			// the chain's acceptance at the reaction deadline, never to a second re-run.
			if !waiting || !decided.insert(id) {
				continue;
			}
			let (verifier, chain) = (verifier.clone(), chain.clone());
			running.spawn(async move { (id, verify(&verifier, &chain, id, &terms, requested).await) });
		}
	}
}

pub(crate) fn report_decision(output: Output, id: MatchId, verified: Result<Decision, CliError>) {
	match verified {
		Ok(decision) => match output {
			Output::Json => println!("{}", serde_json::to_string(&decision).expect("serialises")),
			Output::Human => print!("{}", decision_text(&decision)),
		},
		Err(e) => progress(format!("match {id}: no decision posted: {e}")),
	}
	let _ = std::io::stdout().flush();
}

