//! The docs say what the code does: every `modicum` and `modicum-node` command line in the
//! README, the docs and the examples parses with the real `clap` definitions, every TOML block
//! loads as a role file (or a `--registry-config` file) through the real loader, and every
//! `sha256:` digest they show is one the parsers take.

use crate::cli::Cli;
use clap::Parser as _;
use modicum_common::{config, digest::Sha256};
use modicum_roles::config::{DirectoryConfig, MediatorConfig, ProviderConfig, SolverConfig};
use std::path::{Path, PathBuf};

/// The pages a user reads.
fn pages() -> Vec<PathBuf> {
	let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
	let mut pages = vec![root.join("README.md")];
	let mut folders = vec![root.join("docs"), root.join("examples")];
	while let Some(folder) = folders.pop() {
		for entry in std::fs::read_dir(&folder).unwrap().flatten() {
			let path = entry.path();
			if path.is_dir() {
				folders.push(path);
			} else if path.extension().is_some_and(|e| e == "md") {
				pages.push(path);
			}
		}
	}
	pages.sort();
	pages
}

/// The fenced blocks of a page with their language: (language, first line number, text).
fn blocks(text: &str) -> Vec<(String, usize, String)> {
	let mut blocks = Vec::new();
	let mut open: Option<(String, usize, String)> = None;
	for (number, line) in text.lines().enumerate() {
		let fence = line.trim_start().strip_prefix("```");
		match (&mut open, fence) {
			(None, Some(language)) => open = Some((language.trim().to_string(), number + 2, String::new())),
			(Some(_), Some(_)) => blocks.push(open.take().unwrap()),
			(Some((_, _, body)), None) => {
				body.push_str(line);
				body.push('\n');
			},
			(None, None) => {},
		}
	}
	blocks
}

/// The shell commands of a block: continuation lines joined, comments dropped, each cut at
/// the first pipe, redirection or separator.
fn commands(block: &str) -> Vec<Vec<String>> {
	let joined = block.replace("\\\n", " ");
	let mut commands = Vec::new();
	for line in joined.lines() {
		let Some(words) = shlex::split(line.trim()) else { continue };
		let mut command = Vec::new();
		for word in words {
			if word.starts_with('#') {
				break;
			}
			if ["|", "||", "&&", ";", "&", ">", ">>", "2>&1", "<"].contains(&word.as_str())
				|| word.starts_with('>')
				|| word.starts_with("2>")
			{
				break;
			}
			command.push(word);
		}
		if !command.is_empty() {
			commands.push(command);
		}
	}
	commands
}

/// Placeholders a page writes in capitals (`ID`, `DATA`, `<seed>`) stand for a value.
fn filled(word: &str) -> String {
	let placeholder = (word.len() > 1
		&& word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
		|| (word.starts_with('<') && word.ends_with('>'));
	if placeholder { "1".into() } else { word.into() }
}

/// Which program a command runs, through `NAME=…/modicum` aliases the page set earlier.
fn program<'a>(word: &str, aliases: &'a [(String, &'static str)]) -> Option<&'a str> {
	let name = word.trim_start_matches("./");
	let name = name.rsplit('/').next().unwrap_or(name);
	match name {
		"modicum" => Some("modicum"),
		"modicum-node" => Some("modicum-node"),
		_ => aliases
			.iter()
			.find(|(alias, _)| word == format!("${alias}") || word == format!("${{{alias}}}"))
			.map(|(_, program)| *program),
	}
}

#[test]
fn every_command_line_in_the_docs_parses() {
	let mut checked = 0;
	let mut failures = Vec::new();
	for page in pages() {
		let text = std::fs::read_to_string(&page).unwrap();
		let mut aliases: Vec<(String, &'static str)> = Vec::new();
		for (language, line, body) in blocks(&text) {
			if !matches!(language.as_str(), "sh" | "bash" | "shell" | "console") {
				continue;
			}
			for command in commands(&body) {
				// `M=${CARGO_TARGET_DIR:-…}/release/modicum` names the binary for later lines.
				for word in &command {
					if let Some((alias, value)) = word.split_once('=') {
						if let Some(found) = program(value, &[]) {
							let found = if found == "modicum" { "modicum" } else { "modicum-node" };
							aliases.push((alias.to_string(), found));
						}
					}
				}
				let Some(start) = command.iter().position(|w| program(w, &aliases).is_some()) else {
					continue;
				};
				let which = program(&command[start], &aliases).unwrap();
				let args: Vec<String> = std::iter::once(which.to_string())
					.chain(command[start + 1..].iter().map(|w| filled(w)))
					.collect();
				// As each binary parses its own: the node through Substrate's, which adds --version.
				let parsed = match which {
					"modicum" => modicum_cli::args::Cli::try_parse_from(&args).map(|_| ()),
					_ => <Cli as sc_cli::SubstrateCli>::try_from_iter(&args).map(|_| ()),
				};
				checked += 1;
				let asked_for_help = |e: &clap::Error| {
					matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion)
				};
				match parsed {
					Err(e) if !asked_for_help(&e) => failures.push(format!(
						"{}:{line}: `{}`: {}",
						page.display(),
						command.join(" "),
						e.render()
					)),
					_ => {},
				}
			}
		}
	}
	assert!(failures.is_empty(), "{} of {checked} command lines do not parse:\n{}", failures.len(), failures.join("\n"));
	assert!(checked > 20, "only {checked} command lines found: is the extraction broken?");
}

#[test]
fn every_toml_block_in_the_docs_loads_as_a_role_file() {
	#[derive(serde::Deserialize)]
	#[serde(deny_unknown_fields)]
	struct RegistryConfig {
		#[allow(dead_code)]
		registry: Vec<modicum_roles::config::RegistryAccess>,
	}
	impl config::Validate for RegistryConfig {
		fn validate(&self) -> Result<(), String> {
			Ok(())
		}
	}
	let mut checked = 0;
	let mut failures = Vec::new();
	for page in pages() {
		let text = std::fs::read_to_string(&page).unwrap();
		for (language, line, body) in blocks(&text) {
			if language != "toml" {
				continue;
			}
			checked += 1;
			let at = format!("{}:{line}", page.display());
			let errors = [
				config::parse::<ProviderConfig>(&body, &at).err(),
				config::parse::<MediatorConfig>(&body, &at).err(),
				config::parse::<DirectoryConfig>(&body, &at).err(),
				config::parse::<SolverConfig>(&body, &at).err(),
				config::parse::<RegistryConfig>(&body, &at).err(),
			];
			if errors.iter().all(Option::is_some) {
				let errors: Vec<String> = errors.into_iter().flatten().map(|e| e.to_string()).collect();
				failures.push(format!("{at}: loads as no role file:\n  {}", errors.join("\n  ")));
			}
		}
	}
	assert!(failures.is_empty(), "{}", failures.join("\n"));
	assert!(checked > 3, "only {checked} TOML blocks found");
}

#[test]
fn every_digest_in_the_docs_parses_and_every_base_layer_is_built() {
	let bases = known_base_layers();
	let mut failures = Vec::new();
	for page in pages() {
		let text = std::fs::read_to_string(&page).unwrap();
		for (number, line) in text.lines().enumerate() {
			for (at, _) in line.match_indices("sha256:") {
				let digest: String = line[at..]
					.chars()
					.take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
					.collect();
				// `sha256:…` and `sha256:<hex>` stand for any digest.
				if digest == "sha256:" || line[at + 7..].starts_with(['…', '<']) {
					continue;
				}
				if let Err(e) = digest.parse::<Sha256>() {
					failures.push(format!("{}:{}: {e}", page.display(), number + 1));
				}
				// A base layer shown in a role file is one the scripts really build.
				if line.trim_start().starts_with('"') && !bases.contains(&digest) {
					failures.push(format!("{}:{}: {digest} is no base layer the scripts build ({bases:?})", page.display(), number + 1));
				}
			}
		}
	}
	assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The base layers scripts/base-images/README.md lists: what providers and mediators keep.
fn known_base_layers() -> Vec<String> {
	let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
	let text = std::fs::read_to_string(root.join("scripts/base-images/README.md")).unwrap();
	text.split('`').filter(|t| t.starts_with("sha256:") && t.parse::<Sha256>().is_ok()).map(String::from).collect()
}

#[test]
fn the_devnets_role_files_load_and_keep_the_built_bases() {
	let roles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/devnet-roles");
	let provider: ProviderConfig = config::load(&roles.join("provider.toml")).unwrap();
	let mediator: MediatorConfig = config::load(&roles.join("mediator.toml")).unwrap();
	let _: DirectoryConfig = config::load(&roles.join("directory.toml")).unwrap();
	let _: SolverConfig = config::load(&roles.join("solver.toml")).unwrap();
	let bases = known_base_layers();
	assert_eq!(bases.len(), 2, "the busybox and Python bases: {bases:?}");
	for layers in [&provider.base_layers, &mediator.base_layers] {
		let layers: Vec<String> = layers.iter().map(ToString::to_string).collect();
		assert_eq!(layers, bases, "the devnet keeps the bases the scripts build");
	}
}
