//! Checks on lifecycle hook scripts and their helpers: what makes a hook fail on the
//! instance (CRLF line endings) or hang it (a background process holding stdout open).

use crate::base::diag::{AgentRule, Diagnostics, Severity};
use crate::rules::agents::Agents;

/// Checks the text of a hook script, which the agent executes itself, for the agents in scope.
pub(crate) fn check_hook_script(at: &str, content: &[u8], agents: Agents, diags: &mut Diagnostics) {
    check_shebang(at, content, agents, diags);
    check_script(at, content, diags);
}

/// Checks the text of a script the hooks call (a helper): a shell that runs one without a
/// shebang line falls back to itself, so only the text counts.
pub(crate) fn check_script(at: &str, content: &[u8], diags: &mut Diagnostics) {
    if let Some(line) = first_crlf_line(content) {
        diags.error(
            at,
            format!(
                "Windows (CRLF) line endings from line {line}; the instance fails to run it \
                 (a CRLF shebang line fails with ENOENT): convert to LF (dos2unix, or \
                 '*.sh text eol=lf' in .gitattributes)"
            ),
        );
    }
    let text = String::from_utf8_lossy(content);
    for (index, line) in text.lines().enumerate() {
        if backgrounds_without_redirect(line) {
            diags.warn(
                at,
                format!(
                    "line {}: starts a background process without redirecting its output; it \
                     keeps the agent's pipe open and the lifecycle event hangs until its \
                     timeout (add > /dev/null 2>&1 < /dev/null)",
                    index + 1
                ),
            );
        }
    }
}

fn check_shebang(at: &str, content: &[u8], agents: Agents, diags: &mut Diagnostics) {
    if !content.starts_with(b"#!") {
        // Agent 1.8 runs it through /bin/sh; agent 2.x executes it directly, and the kernel
        // refuses a file without `#!` (ENOEXEC): "Exec format error (os error 8)".
        if agents.v2() {
            diags.by_agent(
                Severity::Error,
                AgentRule::V2,
                at,
                "no shebang line; agent 2.x executes the script directly and fails with \
                 \"Exec format error (os error 8)\" (agent 1.8 would run it with /bin/sh): \
                 start it with #!/bin/bash",
            );
        } else {
            diags.by_agent(
                Severity::Warning,
                AgentRule::V1,
                at,
                "no shebang line (#!/bin/bash); agent 1.8 runs it with /bin/sh, agent 2.x \
                 would fail it",
            );
        }
    }
}

/// True when `content` looks like a script: a shebang line or a shell extension.
pub(crate) fn looks_like_script(name: &str, content_start: &[u8]) -> bool {
    content_start.starts_with(b"#!")
        || [".sh", ".bash", ".py", ".rb", ".pl"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn first_crlf_line(content: &[u8]) -> Option<usize> {
    let pos = content.windows(2).position(|w| w == b"\r\n")?;
    Some(content[..pos].iter().filter(|b| **b == b'\n').count() + 1)
}

fn backgrounds_without_redirect(line: &str) -> bool {
    let code = strip_comment(line).trim_end();
    if code.is_empty() {
        return false;
    }
    let words: Vec<&str> = code.split_whitespace().collect();
    let nohup = words.contains(&"nohup");
    let trailing_amp = code.ends_with('&') && !code.ends_with("&&") && !code.ends_with(">&");
    (nohup || trailing_amp) && !code.contains('>')
}

/// Drops a `#` comment that starts a word (ignores quoting, which is good enough here).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Diagnostics {
        check_for(text, Agents::Both)
    }

    fn check_for(text: &str, agents: Agents) -> Diagnostics {
        let mut d = Diagnostics::default();
        check_hook_script("s.sh", text.as_bytes(), agents, &mut d);
        d
    }

    #[test]
    fn crlf_is_an_error_with_its_line() {
        let d = check("#!/bin/bash\necho ok\r\n");
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("from line 2"), "{}", e[0].message);
    }

    #[test]
    fn missing_shebang_fails_agent_2_and_is_a_warning_for_agent_1_alone() {
        for agents in [Agents::Both, Agents::V2] {
            let d = check_for("echo hi\n", agents);
            let e: Vec<_> = d.errors().collect();
            assert_eq!(e.len(), 1, "{agents:?}");
            assert!(
                e[0].message.contains("Exec format error"),
                "{}",
                e[0].message
            );
            assert_eq!(e[0].agent, Some(AgentRule::V2));
            assert!(e[0].to_string().ends_with("[agent 2.x]"), "{}", e[0]);
        }
        let d = check_for("echo hi\n", Agents::V1);
        assert!(!d.has_errors());
        assert!(d.warnings().any(|w| w.message.contains("/bin/sh")));
    }

    #[test]
    fn background_processes() {
        let cases = [
            ("myserver &", true),
            ("nohup myserver", true),
            ("nohup myserver > /var/log/x 2>&1 &", false),
            ("myserver > /dev/null 2>&1 < /dev/null &", false),
            ("make && make install", false),
            ("echo hi # run me &", false),
            ("# nohup in a comment", false),
            ("systemctl start httpd", false),
        ];
        for (line, expected) in cases {
            assert_eq!(backgrounds_without_redirect(line), expected, "{line}");
        }
    }

    #[test]
    fn clean_script_passes() {
        let d = check("#!/bin/bash\nset -euo pipefail\nsystemctl start httpd\n");
        assert_eq!(d.iter().count(), 0);
    }
}
