//! Errors told with their causes.

/// An error and its causes, `: `-separated: HTTP clients' own messages say only "client error
/// (Connect)".
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
	let mut text = error.to_string();
	let mut next = error.source();
	while let Some(e) = next {
		text.push_str(": ");
		text.push_str(&e.to_string());
		next = e.source();
	}
	text
}
