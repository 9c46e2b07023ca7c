//! The retention state machine: what names this directory at each finalized block, and the
//! deletions that follow a job offer's or a match's closing `retention` blocks later.

use super::*;
use modicum_registry::is_repository_name;

/// Something the directory keeps for jobs in its registry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Object {
	/// A job image: the manifest `repository@digest`.
	Image {
		/// Its repository.
		repository: String,
		/// Its manifest's digest.
		#[serde(with = "sha256")]
		digest: Digest,
	},
	/// A result archive: a blob of [`RESULTS_REPOSITORY`].
	Result {
		/// Its digest.
		#[serde(with = "sha256")]
		digest: Digest,
	},
}

impl Object {
	/// The image of a job offer or match, if its repository is one a registry can hold and
	/// not the results' own (naming a result pin as an image would let a stranger's cancelled
	/// offer delete it).
	pub fn image(repository: &[u8], digest: Digest) -> Option<Self> {
		let repository = std::str::from_utf8(repository).ok()?;
		(is_repository_name(repository) && repository != RESULTS_REPOSITORY)
			.then(|| Object::Image { repository: repository.into(), digest })
	}
}

impl std::fmt::Display for Object {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Object::Image { repository, digest } => {
				write!(f, "image {repository}@{}", digest_string(digest))
			}
			Object::Result { digest } => write!(f, "result {}", digest_string(digest)),
		}
	}
}

/// Which job offer or match an entry of the schedule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
	/// A match that closed.
	Match(MatchId),
	/// A job offer cancelled or expired unmatched.
	Offer(OfferId),
}

/// A scheduled deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Due {
	/// The first block it may be deleted at.
	pub at: BlockNumber,
	/// What it was kept for last.
	pub origin: Origin,
	/// For a result, the manifest pinning it, deleted first.
	#[serde(default, with = "sha256::option")]
	pub pin: Option<Digest>,
}

/// An open match of this directory as the directory remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
	/// The job offer it took.
	pub job_offer: OfferId,
	/// Its image, unless the name is not one a registry holds.
	pub image: Option<Object>,
	/// Its result archive, once posted.
	#[serde(default, with = "sha256::option")]
	pub result: Option<Digest>,
	/// The manifest pinning the result, once written.
	#[serde(default, with = "sha256::option")]
	pub pin: Option<Digest>,
}

/// The job offers and matches naming this directory open at one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
	/// Open job offers: their images.
	pub offers: BTreeMap<OfferId, Option<Object>>,
	/// Open matches: job offer, image and result (the pin is the directory's own).
	pub matches: BTreeMap<MatchId, Kept>,
}

impl Seen {
	/// What of the chain's open job offers and matches names `directory`.
	pub fn new(
		directory: &AccountId,
		offers: Vec<(OfferId, JobOfferOf<Runtime>)>,
		matches: Vec<(MatchId, MatchOf<Runtime>)>,
	) -> Self {
		let offers = offers
			.into_iter()
			.filter(|(_, offer)| offer.directory == *directory)
			.map(|(id, offer)| (id, Object::image(&offer.image.repository[..], offer.image.digest)))
			.collect();
		let matches = matches
			.into_iter()
			.filter(|(_, terms)| terms.directory == *directory)
			.map(|(id, terms)| {
				let result = match terms.state {
					MatchState::Matched => None,
					MatchState::ResultPosted { receipt, .. }
					| MatchState::InMediation { receipt, .. } => receipt.result_digest,
				};
				let image = Object::image(&terms.image.repository[..], terms.image.digest);
				(id, Kept { job_offer: terms.job_offer, image, result, pin: None })
			})
			.collect();
		Self { offers, matches }
	}

	/// Everything these offers and matches name.
	pub fn objects(&self) -> BTreeSet<Object> {
		let offers = self.offers.values().flatten().cloned();
		let matches = self.matches.values().flat_map(|kept| {
			kept.image.iter().cloned().chain(kept.result.map(|digest| Object::Result { digest }))
		});
		offers.chain(matches).collect()
	}
}

/// The directory's retention: what is open at the last finalized block it observed, and the
/// deletions due later. One schedule entry per object, each from a job offer or a match that
/// named this directory — each paid for by its owner's deposit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
	/// The last finalized block observed.
	processed: Option<BlockNumber>,
	/// The job offers naming this directory open there, with their images.
	offers: BTreeMap<OfferId, Option<Object>>,
	/// The matches of this directory open there.
	pub(crate) matches: BTreeMap<MatchId, Kept>,
	/// Deletions by object.
	#[serde(with = "as_list")]
	pub(crate) schedule: BTreeMap<Object, Due>,
}

impl Retention {
	/// The retention saved at `path`; an empty one if there is none yet.
	pub fn load(path: &Path) -> Result<Self, String> {
		match std::fs::read(path) {
			Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
			Err(e) => Err(e.to_string()),
		}
	}

	/// Writes the retention to `path` (whole or not at all).
	pub fn save(&self, path: &Path) -> std::io::Result<()> {
		write_durably(path, &serde_json::to_vec(self)?)
	}

	/// The last finalized block observed.
	pub fn processed(&self) -> Option<BlockNumber> {
		self.processed
	}

	/// The scheduled deletions.
	pub fn schedule(&self) -> &BTreeMap<Object, Due> {
		&self.schedule
	}

	/// Takes in what is open at finalized block `number`, the next after the last observed
	/// (or any later one, when blocks were skipped): whatever left closed there, and what it
	/// kept is scheduled for deletion `keep` blocks later.
	pub fn observe(&mut self, number: BlockNumber, seen: Seen, keep: BlockNumber) {
		let at = number.saturating_add(keep);
		for (id, kept) in &self.matches {
			if seen.matches.contains_key(id) {
				continue;
			}
			tracing::info!(target: "modicum", match_id = id, closed = number, delete_at = at, "directory: match closed; its image and result are kept until then");
			let result = kept.result.map(|digest| (Object::Result { digest }, kept.pin));
			for (object, pin) in
				kept.image.clone().map(|image| (image, None)).into_iter().chain(result)
			{
				schedule(&mut self.schedule, object, Due { at, origin: Origin::Match(*id), pin });
			}
		}
		for (id, image) in &self.offers {
			// An offer leaves the open ones when it is matched too; its image then stays with
			// the match.
			let matched = seen.matches.values().any(|kept| kept.job_offer == *id);
			if seen.offers.contains_key(id) || matched {
				continue;
			}
			tracing::info!(target: "modicum", offer = id, closed = number, delete_at = at, "directory: job offer cancelled or expired unmatched; its image is kept until then");
			if let Some(image) = image {
				schedule(
					&mut self.schedule,
					image.clone(),
					Due { at, origin: Origin::Offer(*id), pin: None },
				);
			}
		}
		let mut matches = seen.matches;
		for (id, kept) in &mut matches {
			// A pin stays known for as long as the result it pins.
			kept.pin = self
				.matches
				.get(id)
				.filter(|old| old.result == kept.result)
				.and_then(|old| old.pin);
		}
		self.matches = matches;
		self.offers = seen.offers;
		self.processed = Some(number);
	}

	/// Everything the open job offers and matches of the last observed block name.
	pub fn named(&self) -> BTreeSet<Object> {
		Seen { offers: self.offers.clone(), matches: self.matches.clone() }.objects()
	}

	/// The deletions due at `now`. An entry whose object an open job offer or match names again
	/// is dropped instead: that one schedules it anew when it closes.
	pub fn due(&mut self, now: BlockNumber) -> Vec<(Object, Due)> {
		let named = self.named();
		self.schedule.retain(|object, due| {
			let reused = named.contains(object);
			if reused {
				tracing::info!(target: "modicum", %object, origin = ?due.origin, "directory: named by an open job offer or match again; kept");
			}
			!reused
		});
		self.schedule
			.iter()
			.filter(|(_, due)| due.at <= now)
			.map(|(o, d)| (o.clone(), d.clone()))
			.collect()
	}

	/// Open matches whose result is posted and not yet pinned.
	pub(crate) fn unpinned(&self) -> Vec<(MatchId, Digest)> {
		self.matches
			.iter()
			.filter(|(_, kept)| kept.pin.is_none())
			.filter_map(|(id, kept)| kept.result.map(|digest| (*id, digest)))
			.collect()
	}
}

/// Adds a deletion; an object already scheduled keeps the later block.
pub(crate) fn schedule(schedule: &mut BTreeMap<Object, Due>, object: Object, due: Due) {
	match schedule.entry(object) {
		Entry::Vacant(entry) => {
			entry.insert(due);
		}
		Entry::Occupied(mut entry) => {
			let old = entry.get_mut();
			let pin = old.pin.or(due.pin);
			if due.at >= old.at {
				*old = due;
			}
			old.pin = pin;
		}
	}
}

/// The pause before the next attempt after `failures` failures in a row.
pub(crate) fn backoff(failures: u32) -> BlockNumber {
	2u32.saturating_pow(failures).min(MAX_BACKOFF)
}

/// Failures in a row and the block from which to try again.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Retry {
	failures: u32,
	pub(crate) until: BlockNumber,
}

impl Retry {
	pub(crate) fn waiting(retry: Option<&Retry>, now: BlockNumber) -> bool {
		retry.is_some_and(|retry| now < retry.until)
	}

	pub(crate) fn failed(&mut self, now: BlockNumber) {
		self.failures = self.failures.saturating_add(1);
		self.until = now.saturating_add(backoff(self.failures));
	}
}

/// Digests written `sha256:<hex>` in the saved retention.
mod sha256 {
	use super::*;
	use serde::{de::Error as _, Deserializer, Serializer};

	pub fn serialize<S: Serializer>(digest: &Digest, serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&digest_string(digest))
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
		let text = String::deserialize(deserializer)?;
		text.parse::<modicum_common::digest::Sha256>().map(|d| d.0).map_err(D::Error::custom)
	}

	pub mod option {
		use super::*;

		pub fn serialize<S: Serializer>(
			digest: &Option<Digest>,
			serializer: S,
		) -> Result<S::Ok, S::Error> {
			digest.map(|d| digest_string(&d)).serialize(serializer)
		}

		pub fn deserialize<'de, D: Deserializer<'de>>(
			deserializer: D,
		) -> Result<Option<Digest>, D::Error> {
			Option::<String>::deserialize(deserializer)?
				.map(|text| {
					text.parse::<modicum_common::digest::Sha256>().map(|d| d.0).map_err(D::Error::custom)
				})
				.transpose()
		}
	}
}

/// The schedule saved as a list: its keys are not strings.
mod as_list {
	use super::*;
	use serde::{Deserializer, Serializer};

	pub fn serialize<S: Serializer>(
		map: &BTreeMap<Object, Due>,
		serializer: S,
	) -> Result<S::Ok, S::Error> {
		serializer.collect_seq(map.iter())
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(
		deserializer: D,
	) -> Result<BTreeMap<Object, Due>, D::Error> {
		Ok(Vec::<(Object, Due)>::deserialize(deserializer)?.into_iter().collect())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use modicum_common::scratch::Scratch;

	const KEEP: BlockNumber = 100;

	fn image(name: &str, byte: u8) -> Object {
		Object::Image { repository: name.into(), digest: [byte; 32] }
	}

	fn matched(job_offer: OfferId, image: &Object, result: Option<u8>) -> Kept {
		Kept { job_offer, image: Some(image.clone()), result: result.map(|b| [b; 32]), pin: None }
	}

	fn seen(offers: &[(OfferId, &Object)], matches: &[(MatchId, Kept)]) -> Seen {
		Seen {
			offers: offers.iter().map(|(id, image)| (*id, Some((*image).clone()))).collect(),
			matches: matches.iter().cloned().collect(),
		}
	}

	fn due_objects(retention: &mut Retention, now: BlockNumber) -> Vec<Object> {
		retention.due(now).into_iter().map(|(object, _)| object).collect()
	}

	#[test]
	fn a_closed_match_has_its_image_and_result_deleted_after_the_retention() {
		let fib = image("jobs/fib", 1);
		let mut retention = Retention::default();
		retention.observe(10, seen(&[(7, &fib)], &[]), KEEP);
		// Matched: the offer leaves as the match appears; nothing is scheduled.
		retention.observe(11, seen(&[], &[(3, matched(7, &fib, None))]), KEEP);
		retention.observe(12, seen(&[], &[(3, matched(7, &fib, Some(9)))]), KEEP);
		assert!(retention.schedule().is_empty());
		// Closed at 20: due at 120, not before.
		retention.observe(20, seen(&[], &[]), KEEP);
		assert!(due_objects(&mut retention, 119).is_empty());
		assert_eq!(due_objects(&mut retention, 120), vec![fib, Object::Result { digest: [9; 32] }]);
		assert!(retention.schedule().values().all(|due| due.origin == Origin::Match(3)));
	}

	#[test]
	fn an_offer_cancelled_or_expired_unmatched_has_its_image_deleted() {
		let fib = image("jobs/fib", 1);
		let mut retention = Retention::default();
		retention.observe(10, seen(&[(7, &fib)], &[]), KEEP);
		retention.observe(15, seen(&[], &[]), KEEP);
		assert_eq!(due_objects(&mut retention, 115), vec![fib]);
		assert_eq!(retention.schedule().values().next().unwrap().origin, Origin::Offer(7));
	}

	#[test]
	fn an_image_or_result_another_open_offer_or_match_names_is_kept() {
		let fib = image("jobs/fib", 1);
		let mut retention = Retention::default();
		retention.observe(10, seen(&[], &[(3, matched(7, &fib, Some(9)))]), KEEP);
		// Match 3 closes; match 4 runs the same image to the same result, and offer 8 names it.
		retention.observe(11, seen(&[(8, &fib)], &[(4, matched(6, &fib, Some(9)))]), KEEP);
		assert!(due_objects(&mut retention, 111).is_empty());
		assert!(retention.schedule().is_empty(), "dropped: the open ones schedule it anew");
		// Match 4 closes later; the offer is cancelled later still: the image waits for the last.
		retention.observe(50, seen(&[(8, &fib)], &[]), KEEP);
		assert_eq!(due_objects(&mut retention, 150), vec![Object::Result { digest: [9; 32] }]);
		assert!(!retention.schedule().contains_key(&fib), "the open offer still names the image");
		retention.observe(60, seen(&[], &[]), KEEP);
		assert_eq!(due_objects(&mut retention, 159), vec![Object::Result { digest: [9; 32] }]);
		assert_eq!(
			due_objects(&mut retention, 160),
			vec![fib.clone(), Object::Result { digest: [9; 32] }]
		);
		assert_eq!(retention.schedule()[&fib].origin, Origin::Offer(8));
		// The same digest in another repository is another image.
		let copy = image("jobs/copy", 1);
		retention.observe(61, seen(&[(9, &copy)], &[]), KEEP);
		assert_eq!(due_objects(&mut retention, 160).len(), 2);
	}

	#[test]
	fn the_schedule_holds_one_entry_per_object_and_keeps_its_pin() {
		let fib = image("jobs/fib", 1);
		let mut retention = Retention::default();
		retention.observe(1, seen(&[], &[(3, matched(7, &fib, Some(9)))]), KEEP);
		retention.matches.get_mut(&3).unwrap().pin = Some([5; 32]);
		retention.observe(2, seen(&[], &[(3, matched(7, &fib, Some(9)))]), KEEP);
		assert_eq!(retention.matches[&3].pin, Some([5; 32]), "a pin outlives the blocks");
		retention.observe(3, seen(&[(8, &fib)], &[]), KEEP);
		retention.observe(4, seen(&[], &[]), KEEP);
		assert_eq!(retention.schedule().len(), 2);
		assert_eq!(retention.schedule()[&fib].at, 104);
		assert_eq!(retention.schedule()[&Object::Result { digest: [9; 32] }].pin, Some([5; 32]));
	}

	#[test]
	fn names_no_registry_holds_are_never_tracked() {
		assert!(Object::image(b"jobs/fib", [1; 32]).is_some());
		assert!(Object::image(b"a/b.c_d-e/f0", [1; 32]).is_some());
		for bad in [
			&b"jobs/../x"[..],
			b"Jobs/fib",
			b"jobs/fib?x=1",
			b"/jobs",
			b"jobs//fib",
			b"",
			b"jobs/fib-",
			b"\xff",
		] {
			assert!(Object::image(bad, [1; 32]).is_none(), "{}", String::from_utf8_lossy(bad));
		}
		assert!(
			Object::image(RESULTS_REPOSITORY.as_bytes(), [1; 32]).is_none(),
			"result pins are not images"
		);
	}

	#[test]
	fn a_saved_retention_reads_back_and_a_restart_resumes_where_it_stopped() {
		let scratch = Scratch::new("retention");
		let path = scratch.0.join("retention.json");
		assert_eq!(Retention::load(&path).unwrap(), Retention::default(), "no file yet");
		let (fib, sort) = (image("jobs/fib", 1), image("jobs/sort", 2));
		let blocks: Vec<Seen> = vec![
			seen(&[(7, &fib), (8, &sort)], &[]),
			seen(&[(8, &sort)], &[(3, matched(7, &fib, None))]),
			seen(&[], &[(3, matched(7, &fib, Some(9)))]),
			seen(&[], &[]),
		];
		let mut straight = Retention::default();
		for (n, block) in blocks.iter().enumerate() {
			straight.observe(n as BlockNumber, block.clone(), KEEP);
		}
		// The same blocks with a restart (save, load) after each.
		let mut restarted = Retention::default();
		for (n, block) in blocks.iter().enumerate() {
			restarted.observe(n as BlockNumber, block.clone(), KEEP);
			restarted.save(&path).unwrap();
			restarted = Retention::load(&path).unwrap();
		}
		assert_eq!(restarted, straight);
		assert_eq!(restarted.processed(), Some(3));
		assert_eq!(restarted.schedule().len(), 3);
		let text = std::fs::read_to_string(&path).unwrap();
		assert!(text.contains(&digest_string(&[9; 32])), "digests are readable: {text}");
		// A block read again after a crash changes nothing.
		let mut again = restarted.clone();
		again.observe(3, blocks[3].clone(), KEEP);
		assert_eq!(again, restarted);
		assert!(
			Retention::load(&scratch.0).is_err(),
			"an unreadable file is an error, not a fresh start"
		);
	}

	#[test]
	fn failures_back_off_up_to_an_hour() {
		assert_eq!(backoff(1), 2);
		assert_eq!(backoff(5), 32);
		assert_eq!(backoff(40), MAX_BACKOFF);
		let mut retry = Retry::default();
		retry.failed(10);
		assert!(Retry::waiting(Some(&retry), 11));
		assert!(!Retry::waiting(Some(&retry), 12));
	}

	#[test]
	fn a_pin_is_the_same_for_the_same_result() {
		let pin = pin_manifest(&[9; 32], 12);
		assert_eq!(pin, pin_manifest(&[9; 32], 12));
		let value: serde_json::Value = serde_json::from_str(&pin).unwrap();
		assert_eq!(value["config"]["digest"], digest_string(&[9; 32]));
		assert_eq!(value["layers"], serde_json::json!([]));
	}
}

