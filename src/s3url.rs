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
        let url: S3Url = "s3://releases/app.tgz?versionId=v1".parse().unwrap();
        assert_eq!(url.to_string(), "s3://releases/app.tgz?versionId=v1");
    }
}
