//! A YAML document as the agent's Ruby `YAML.load` (Psych 4) sees it, with line numbers.
//!
//! The tree keeps what a plain serde model throws away and the checks need: whether a scalar
//! was quoted (`version: 0.0` is a number, `"0.0"` a string the agent rejects) and where each
//! node stands. Anchors and aliases, which Psych 4 refuses, are reported while building.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yaml {
    Scalar {
        value: String,
        plain: bool,
        line: usize,
    },
    Seq {
        items: Vec<Yaml>,
        line: usize,
    },
    Map {
        entries: Vec<(Yaml, Yaml)>,
        line: usize,
    },
}

impl Yaml {
    pub(crate) fn line(&self) -> usize {
        match self {
            Yaml::Scalar { line, .. } | Yaml::Seq { line, .. } | Yaml::Map { line, .. } => *line,
        }
    }

    /// The plain scalars YAML reads as null (`key:` with nothing after it).
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Yaml::Scalar { value, plain: true, .. } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Yaml::Scalar { .. } if self.is_null() => "nothing",
            Yaml::Scalar { .. } => "a scalar",
            Yaml::Seq { .. } => "a list",
            Yaml::Map { .. } => "a map",
        }
    }
}

/// A parsed document and the constructs in it that Psych 4 refuses.
#[derive(Debug)]
pub(crate) struct Document {
    pub root: Option<Yaml>,
    /// (line, what) for every anchor and alias.
    pub refused: Vec<(usize, &'static str)>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Yaml>,
    root: Option<Yaml>,
    refused: Vec<(usize, &'static str)>,
}

impl Builder {
    fn add(&mut self, node: Yaml) {
        match self.stack.last_mut() {
            Some(Yaml::Seq { items, .. }) => items.push(node),
            Some(Yaml::Map { entries, .. }) => match entries.last_mut() {
                Some((_, value)) if *value == PENDING => *value = node,
                _ => entries.push((node, PENDING)),
            },
            Some(Yaml::Scalar { .. }) => unreachable!("scalars hold no children"),
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
    }
}

/// Marks a map key whose value has not arrived yet.
const PENDING: Yaml = Yaml::Seq {
    items: Vec::new(),
    line: 0,
};

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(value, style, anchor, _tag) => {
                if anchor > 0 {
                    self.refused.push((line, "anchor"));
                }
                self.add(Yaml::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                    line,
                });
            }
            Event::SequenceStart(anchor, _) => {
                if anchor > 0 {
                    self.refused.push((line, "anchor"));
                }
                self.stack.push(Yaml::Seq {
                    items: Vec::new(),
                    line,
                });
            }
            Event::MappingStart(anchor, _) => {
                if anchor > 0 {
                    self.refused.push((line, "anchor"));
                }
                self.stack.push(Yaml::Map {
                    entries: Vec::new(),
                    line,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(node) = self.stack.pop() {
                    self.add(node);
                }
            }
            Event::Alias(_) => {
                self.refused.push((line, "alias"));
                self.add(Yaml::Scalar {
                    value: String::new(),
                    plain: true,
                    line,
                });
            }
            _ => {}
        }
    }
}

/// Parses the first document of `text`.
pub(crate) fn parse(text: &str) -> Result<Document, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| format!("not valid YAML: {} (line {})", e.info(), e.marker().line()))?;
    Ok(Document {
        root: builder.root,
        refused: builder.refused,
    })
}

/// True for a plain scalar that YAML 1.1 (Psych) reads as a date or time.
pub(crate) fn looks_like_timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if !(digits(0..4) && b.get(4) == Some(&b'-')) {
        return false;
    }
    let rest = &value[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or("");
    let day: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (1..=2).contains(&month.len())
        && month.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_style_and_lines() {
        let doc = parse("version: 0.0\nos: \"linux\"\nlist:\n  - a\n").unwrap();
        let Some(Yaml::Map { entries, .. }) = doc.root else {
            panic!("map expected")
        };
        assert_eq!(
            entries[0].1,
            Yaml::Scalar {
                value: "0.0".into(),
                plain: true,
                line: 1
            }
        );
        assert!(matches!(&entries[1].1, Yaml::Scalar { plain: false, .. }));
        assert!(matches!(&entries[2].1, Yaml::Seq { items, .. } if items.len() == 1));
        assert!(doc.refused.is_empty());
    }

    #[test]
    fn reports_anchors_and_aliases() {
        let doc = parse("a: &x 1\nb: *x\n").unwrap();
        assert_eq!(doc.refused, vec![(1, "anchor"), (2, "alias")]);
    }

    #[test]
    fn null_values() {
        let doc = parse("files:\nhooks: ~\n").unwrap();
        let Some(Yaml::Map { entries, .. }) = doc.root else {
            panic!("map expected")
        };
        assert!(entries[0].1.is_null());
        assert!(entries[1].1.is_null());
    }

    #[test]
    fn timestamps() {
        assert!(looks_like_timestamp("2024-01-31"));
        assert!(looks_like_timestamp("2024-1-3 10:00:00"));
        assert!(!looks_like_timestamp("2024"));
        assert!(!looks_like_timestamp("scripts/2024-01-31.sh"));
        assert!(!looks_like_timestamp("0.0"));
    }
}
