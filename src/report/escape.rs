//! The one place that escapes text from the pipeline (node, dataset and error text) for
//! Markdown, HTML and Mermaid: a node name can inject no markup, no @mention and no broken
//! diagram.

/// An inline code span that holds `text` literally, also inside a table cell: no markup,
/// no HTML, no mention is interpreted inside it.
///
/// ```
/// use kedro_sfn::report::escape::code;
/// assert_eq!(code("train_model_node"), "`train_model_node`");
/// assert_eq!(code("a|b`c"), "``a\\|b`c``");
/// ```
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let longest_run = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

/// Plain Markdown text, on one line: inline markup characters (`\\ ` * _ [ ] | ~ < > &`) are
/// escaped wherever they stand, HTML is entity-encoded and `@` cannot start a mention. The
/// characters that are markup only at the start of a line (`-`, `+`, `#`, `1.`) are escaped
/// only there, so `eu-west-1` or `v1.2` stay readable in the raw Markdown.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let leading_digits = text.chars().take_while(char::is_ascii_digit).count();
    for (index, c) in text.chars().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '@' => out.push_str("@\u{200b}"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' | '#' | '=' if index == 0 => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if index > 0 && index == leading_digits => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A message that marks names as `code` (check messages do): each backtick-quoted part
/// becomes a code span, the rest plain [`text`]. An unpaired backtick stays literal text.
///
/// ```
/// use kedro_sfn::report::escape::prose;
/// assert_eq!(prose("dataset `x_y` is local"), "dataset `x_y` is local");
/// assert_eq!(prose("a `b"), "a \\`b");
/// ```
pub fn prose(message: &str) -> String {
    let (paired, unpaired) = if message.matches('`').count() % 2 == 1 {
        message.split_at(message.rfind('`').unwrap_or(message.len()))
    } else {
        (message, "")
    };
    let mut out = String::with_capacity(message.len() + 8);
    for (index, part) in paired.split('`').enumerate() {
        out.push_str(&if index % 2 == 1 {
            code(part)
        } else {
            text(part)
        });
    }
    out.push_str(&text(unpaired));
    out
}

/// The text of a Mermaid node label written as `id["..."]`: quotes, angle brackets,
/// ampersands, hashes and backticks become Mermaid entity codes.
pub fn mermaid_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn prose_renders_quoted_names_as_code_and_the_rest_as_text() {
        assert_eq!(
            prose("dataset `a|b` is *local*"),
            "dataset `a\\|b` is \\*local\\*"
        );
        assert_eq!(prose("`x` and `y`"), "`x` and `y`");
        assert_eq!(prose("odd ` tick"), "odd \\` tick");
        assert!(!prose("`<b>@me</b>`").contains("\\`"));
    }

    #[test]
    fn line_start_markup_is_escaped_only_at_the_start() {
        assert_eq!(text("eu-west-1 v1.2 (a) {b}"), "eu-west-1 v1.2 (a) {b}");
        assert_eq!(text("- item"), "\\- item");
        assert_eq!(text("# title"), "\\# title");
        assert_eq!(text("12. point"), "12\\. point");
        assert_eq!(text("x\n- y"), "x - y");
    }

    #[test]
    fn text_neutralizes_html_and_mentions() {
        let escaped = text("<img src=x onerror=alert(1)> @octocat **bold**");
        assert!(!escaped.contains('<'));
        assert!(!escaped.contains("@octocat"));
        assert!(escaped.contains("\\*\\*bold\\*\\*"));
    }

    #[test]
    fn mermaid_labels_cannot_close_the_quote() {
        let label = mermaid_label("a\"]-->b[\"<script>#x");
        assert!(!label.contains('"'));
        assert!(!label.contains('<'));
        assert_eq!(label, "a#quot;]--#gt;b[#quot;#lt;script#gt;#35;x");
    }
}
