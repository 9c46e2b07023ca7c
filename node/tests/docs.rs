//! The docs say what the code does: every `modicum` and `modicum-node` command line in the
//! README, the docs and the examples parses with the real `clap` definitions, every TOML block
//! loads as a role file (or a `--registry-config` file) through the real loader, and every
//! `sha256:` digest they show is one the parsers take.

use modicum_node::cli::Cli;
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

/// The shell commands of a block: continuation lines joined, comments dropped, each command
/// of a `&&`, `||`, `;` or `|` chain on its own, a redirection ending its command; `Err` names
/// a line the shell could not read either (an unclosed quote).
fn commands(block: &str) -> Result<Vec<Vec<String>>, String> {
	let joined = block.replace("\\\n", " ");
	let mut commands = Vec::new();
	for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
		let words = shlex::split(line).ok_or_else(|| format!("unreadable shell line `{line}`"))?;
		let mut command: Vec<String> = Vec::new();
		let mut redirected = false;
		for word in words {
			if word.starts_with('#') {
				break;
			}
			if ["|", "||", "&&", ";", "&"].contains(&word.as_str()) {
				commands.push(std::mem::take(&mut command));
				redirected = false;
				continue;
			}
			if word.starts_with('>') || word.starts_with("2>") || word == "<" {
				redirected = true;
			}
			if !redirected {
				command.push(word);
			}
		}
		commands.push(command);
	}
	commands.retain(|c| !c.is_empty());
	Ok(commands)
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
			let commands = match commands(&body) {
				Ok(commands) => commands,
				Err(e) => {
					failures.push(format!("{}:{line}: {e}", page.display()));
					continue;
				},
			};
			for command in commands {
				// `M=${CARGO_TARGET_DIR:-…}/release/modicum` names the binary for later lines.
				for word in &command {
					if let Some((alias, value)) = word.split_once('=') {
						if let Some(found) = program(value, &[]) {
							let found = if found == "modicum" { "modicum" } else { "modicum-node" };
							aliases.push((alias.to_string(), found));
						}
					}
				}
				// The program a command runs: its first word after `NAME=value`s, `sudo`, `exec`
				// and `timeout N`; a word elsewhere (`install … modicum /usr/local/bin`) is an
				// argument, and what `xargs` runs gets arguments no page shows.
				let mut start = 0;
				while let Some(word) = command.get(start) {
					match word.as_str() {
						"sudo" | "exec" => start += 1,
						"timeout" => start += 2,
						_ if word.contains('=') && !word.starts_with('-') => start += 1,
						_ => break,
					}
				}
				if command.get(start).is_none_or(|w| program(w, &aliases).is_none()) {
					continue;
				}
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

/// Loads a TOML block with the loader of the file it is, told by its keys: a provider's has
/// `[offer]`, a directory's an `endpoint`, a mediator's an `architecture`, a file of
/// `[[registry]]` entries alone is the CLI's `--registry-config`, and a solver's has none of
/// these.
fn load_role_file(text: &str, at: &str) -> Result<&'static str, String> {
	let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
	let has = |key: &str| table.contains_key(key);
	let loaded = if has("offer") {
		config::parse::<ProviderConfig>(text, at).map(|_| "provider")
	} else if has("endpoint") {
		config::parse::<DirectoryConfig>(text, at).map(|_| "directory")
	} else if has("architecture") {
		config::parse::<MediatorConfig>(text, at).map(|_| "mediator")
	} else if has("registry") && table.len() == 1 {
		config::parse::<modicum_registry::AccessFile>(text, at).map(|_| "registry access")
	} else {
		config::parse::<SolverConfig>(text, at).map(|_| "solver")
	};
	loaded.map_err(|e| e.to_string())
}

#[test]
fn every_toml_block_in_the_docs_loads_as_a_role_file() {
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
			if let Err(e) = load_role_file(&body, &at) {
				failures.push(format!("{at}: {e}"));
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
				let listed = line.trim_start().starts_with('"') || line.contains("base_layers");
				if listed && !bases.contains(&digest) {
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
	for (file, role) in [("provider", "provider"), ("mediator", "mediator"), ("directory", "directory"), ("solver", "solver")] {
		let path = roles.join(format!("{file}.toml"));
		let text = std::fs::read_to_string(&path).unwrap();
		assert_eq!(load_role_file(&text, &path.display().to_string()), Ok(role), "{}", path.display());
	}
	let provider: ProviderConfig = config::load(&roles.join("provider.toml")).unwrap();
	let mediator: MediatorConfig = config::load(&roles.join("mediator.toml")).unwrap();
	let bases = known_base_layers();
	assert_eq!(bases.len(), 2, "the busybox and Python bases: {bases:?}");
	for layers in [&provider.base_layers, &mediator.base_layers] {
		let layers: Vec<String> = layers.iter().map(ToString::to_string).collect();
		assert_eq!(layers, bases, "the devnet keeps the bases the scripts build");
	}
}
