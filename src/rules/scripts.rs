//! Checks on lifecycle hook scripts and their helpers: what makes a hook fail on the
//! instance (CRLF line endings) or hang it (a background process holding stdout open).

use crate::base::diag::Diagnostics;

/// Checks the text of a hook script.
pub(crate) fn check_hook_script(at: &str, content: &[u8], diags: &mut Diagnostics) {
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
    if !content.starts_with(b"#!") {
        diags.warn(
            at,
            "no shebang line (#!/bin/bash); the agent runs it with /bin/sh",
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
        let mut d = Diagnostics::default();
        check_hook_script("s.sh", text.as_bytes(), &mut d);
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
    fn missing_shebang_is_a_warning() {
        let d = check("echo hi\n");
        assert!(!d.has_errors());
        assert!(d.warnings().any(|w| w.message.contains("shebang")));
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
