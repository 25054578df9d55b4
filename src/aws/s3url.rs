//! `s3://bucket/key[?versionId=…]` locations, as the SSM parameter and `APP_ARCHIVE` give them.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

impl FromStr for S3Url {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = "expected s3://bucket/key, optionally followed by ?versionId=…";
        let rest = text
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{text}' is not an S3 location: {expected}"))?;
        let (bucket, key_part) = rest
            .split_once('/')
            .ok_or_else(|| format!("'{text}' has no object key: {expected}"))?;
        let (key, version_id) = match key_part.rsplit_once("?versionId=") {
            Some((key, version)) if !version.is_empty() => (key, Some(version.to_string())),
            Some(_) => return Err(format!("'{text}' has an empty versionId")),
            None => (key_part, None),
        };
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(format!(
                "'{text}': '{bucket}' is not a valid S3 bucket name"
            ));
        }
        if key.is_empty() || key.ends_with('/') {
            return Err(format!(
                "'{text}' names a folder, not an object: {expected}"
            ));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id,
        })
    }
}

/// The `s3://` location a mistyped one most likely meant: `S3://`, `s3:/`, `s3//`, and the
/// HTTPS forms of an object (`https://BUCKET.s3[.REGION].amazonaws.com/KEY`,
/// `https://s3[.REGION].amazonaws.com/BUCKET/KEY`). None for anything else.
pub(crate) fn did_you_mean(text: &str) -> Option<String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("s3://") && !t.starts_with("s3://") {
        return Some(format!("s3://{}", &t[5..]));
    }
    for typo in ["s3:/", "s3//", "s3:"] {
        if lower.starts_with(typo) && !lower.starts_with("s3://") {
            return Some(format!("s3://{}", t[typo.len()..].trim_start_matches('/')));
        }
    }
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let offset = t.len() - rest.len();
    let (host, _) = rest.split_once('/')?;
    let path = &t[offset + host.len() + 1..];
    if !host.ends_with(".amazonaws.com") {
        return None;
    }
    if let Some((bucket, _)) = host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
        return Some(format!("s3://{bucket}/{path}"));
    }
    if host.starts_with("s3.") || host.starts_with("s3-") {
        return Some(format!("s3://{path}"));
    }
    None
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, "?versionId={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = |b: &str, k: &str, v: Option<&str>| {
            Ok(S3Url {
                bucket: b.into(),
                key: k.into(),
                version_id: v.map(str::to_string),
            })
        };
        let cases: &[(&str, Result<S3Url, &str>)] = &[
            (
                "s3://releases/app-1.2.3.tar.gz",
                ok("releases", "app-1.2.3.tar.gz", None),
            ),
            (
                "s3://my.bucket-1/a/b/c.tgz",
                ok("my.bucket-1", "a/b/c.tgz", None),
            ),
            (
                "s3://releases/app.tgz?versionId=3HL4kqtJ",
                ok("releases", "app.tgz", Some("3HL4kqtJ")),
            ),
            ("  s3://releases/app.tgz\n", ok("releases", "app.tgz", None)),
            (
                "https://releases.s3.amazonaws.com/app.tgz",
                Err("is not an S3 location"),
            ),
            ("s3://releases", Err("has no object key")),
            ("s3://releases/", Err("names a folder")),
            ("s3://releases/dir/", Err("names a folder")),
            ("s3://Releases/app.tgz", Err("not a valid S3 bucket name")),
            ("s3://ab/app.tgz", Err("not a valid S3 bucket name")),
            ("s3://releases/app.tgz?versionId=", Err("empty versionId")),
            ("app.tgz", Err("is not an S3 location")),
        ];
        for (text, expected) in cases {
            let got = text.parse::<S3Url>();
            match (got, expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
        for (typo, meant) in [
            ("S3://releases/app.tgz", "s3://releases/app.tgz"),
            ("s3:/releases/app.tgz", "s3://releases/app.tgz"),
            ("s3//releases/app.tgz", "s3://releases/app.tgz"),
            (
                "https://releases.s3.ap-southeast-7.amazonaws.com/r/app.tgz",
                "s3://releases/r/app.tgz",
            ),
            (
                "https://releases.s3.amazonaws.com/app.tgz",
                "s3://releases/app.tgz",
            ),
            (
                "https://s3.ap-southeast-1.amazonaws.com/releases/app.tgz",
                "s3://releases/app.tgz",
            ),
        ] {
            assert_eq!(did_you_mean(typo).as_deref(), Some(meant), "{typo}");
        }
        assert_eq!(did_you_mean("s3://releases/app.tgz"), None);
        assert_eq!(did_you_mean("./app.tgz"), None);
        assert_eq!(did_you_mean("https://example.com/app.tgz"), None);
        let url: S3Url = "s3://releases/app.tgz?versionId=v1".parse().unwrap();
        assert_eq!(url.to_string(), "s3://releases/app.tgz?versionId=v1");
    }
}
