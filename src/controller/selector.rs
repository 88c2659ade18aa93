//! Label selectors over `FlowLogPolicy` objects (`--selector`): the shard an operator watches. Checked here, at
//! start-up, with the apiserver's syntax and rules, so that a typo fails at once with a message instead of a watch
//! that the apiserver refuses again and again.

use std::collections::BTreeSet;
use std::fmt;

/// A parsed label selector, in a canonical form: requirements sorted, set values sorted and deduplicated, `==`
/// written `=`. Two spellings of the same selector have the same canonical form (and so the same default Lease).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Requirement {
    Exists(String),
    DoesNotExist(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |values: &BTreeSet<String>| values.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, v) => write!(f, "{k} in ({})", set(v)),
            Requirement::NotIn(k, v) => write!(f, "{k} notin ({})", set(v)),
            Requirement::GreaterThan(k, n) => write!(f, "{k}>{n}"),
            Requirement::LessThan(k, n) => write!(f, "{k}<{n}"),
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = String;

    /// The apiserver's string syntax: comma-separated requirements, each `key`, `!key`, `key=value`,
    /// `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`, `key>N` or `key<N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_requirements(s)? {
            let part = part.trim();
            if part.is_empty() {
                return Err("empty requirement (a selector is requirements separated by single commas)".into());
            }
            requirements.push(requirement(part).map_err(|e| format!("{part:?}: {e}"))?);
        }
        if requirements.is_empty() {
            return Err("the selector is empty: leave --selector out to watch every policy".into());
        }
        requirements.sort();
        requirements.dedup();
        Ok(LabelSelector { requirements })
    }
}

impl LabelSelector {
    /// A stable 8-hex-digit digest of the canonical form (FNV-1a: the same on every build and platform).
    pub fn digest(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.to_string().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{:08x}", (hash >> 32) ^ (hash & 0xffff_ffff))
    }
}

/// Splits on the commas outside parentheses.
fn split_requirements(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' if depth > 0 => return Err("nested parentheses".into()),
            '(' => depth += 1,
            ')' if depth == 0 => return Err("`)` without `(`".into()),
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("`(` without `)`".into());
    }
    if !s.trim().is_empty() {
        parts.push(&s[start..]);
    }
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    let end = part.find(|c: char| c.is_whitespace() || "=!<>()".contains(c)).unwrap_or(part.len());
    let (key, rest) = (&part[..end], part[end..].trim_start());
    check_key(key)?;
    let key = key.to_string();
    let value = |v: &str| -> Result<String, String> {
        let v = v.trim();
        check_value(v)?;
        Ok(v.to_string())
    };
    let number = |v: &str| -> Result<i64, String> {
        v.trim().parse::<i64>().map_err(|_| format!("{:?} is not an integer (> and < compare integers)", v.trim()))
    };
    if rest.is_empty() {
        Ok(Requirement::Exists(key))
    } else if let Some(v) = rest.strip_prefix("==") {
        Ok(Requirement::Equals(key, value(v)?))
    } else if let Some(v) = rest.strip_prefix("!=") {
        Ok(Requirement::NotEquals(key, value(v)?))
    } else if let Some(v) = rest.strip_prefix('=') {
        Ok(Requirement::Equals(key, value(v)?))
    } else if let Some(v) = rest.strip_prefix('>') {
        Ok(Requirement::GreaterThan(key, number(v)?))
    } else if let Some(v) = rest.strip_prefix('<') {
        Ok(Requirement::LessThan(key, number(v)?))
    } else if let Some(v) = keyword(rest, "notin") {
        Ok(Requirement::NotIn(key, values(v)?))
    } else if let Some(v) = keyword(rest, "in") {
        Ok(Requirement::In(key, values(v)?))
    } else {
        Err(format!("expected an operator (=, ==, !=, in, notin, >, <) after {key:?}"))
    }
}

/// `rest` after the word `word` (followed by a space or `(`).
fn keyword<'a>(rest: &'a str, word: &str) -> Option<&'a str> {
    let after = rest.strip_prefix(word)?;
    after.starts_with(|c: char| c.is_whitespace() || c == '(').then_some(after)
}

fn values(v: &str) -> Result<BTreeSet<String>, String> {
    let inner = v
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or("`in` and `notin` take values in parentheses: key in (a,b)")?;
    if inner.trim().is_empty() {
        return Err("`in` and `notin` need at least one value".into());
    }
    inner
        .split(',')
        .map(|v| {
            let v = v.trim();
            check_value(v)?;
            Ok(v.to_string())
        })
        .collect()
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("missing label key".into());
    }
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            if prefix.len() > 253 || !prefix.split('.').all(label_ok) {
                return Err(format!("label key prefix {prefix:?} is not a DNS subdomain (e.g. flowlog.dev)"));
            }
            name
        }
        None => key,
    };
    if name.is_empty() || !is_name(name) {
        return Err(format!(
            "label key {key:?} is not valid: its name must be 1-63 characters, alphanumerics, '-', '_' or '.', \
             starting and ending with an alphanumeric"
        ));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?} is not valid: at most 63 characters, alphanumerics, '-', '_' or '.', starting and \
             ending with an alphanumeric"
        ))
    }
}

fn is_name(s: &str) -> bool {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    s.len() <= 63
        && edge(s.bytes().next())
        && edge(s.bytes().last())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        s.parse::<LabelSelector>().map(|s| s.to_string())
    }

    #[test]
    fn accepts_the_apiserver_syntax_in_a_canonical_form() {
        assert_eq!(parse("flowlog.dev/shard=1").unwrap(), "flowlog.dev/shard=1");
        assert_eq!(parse(" flowlog.dev/shard == 1 ").unwrap(), "flowlog.dev/shard=1");
        assert_eq!(parse("b!=x,a").unwrap(), "a,b!=x");
        assert_eq!(parse("team in (b, a,a),!legacy").unwrap(), "!legacy,team in (a,b)");
        assert_eq!(parse("team notin (x)").unwrap(), "team notin (x)");
        assert_eq!(parse("tier>2,tier<5").unwrap(), "tier>2,tier<5");
        assert_eq!(parse("env=").unwrap(), "env=");
        assert_eq!(parse("a=1,b=2").unwrap(), parse("b=2, a=1").unwrap());
    }

    #[test]
    fn rejects_what_the_apiserver_rejects() {
        for (bad, says) in [
            ("", "empty"),
            ("a=1,,b=2", "empty requirement"),
            ("a=1,", "empty requirement"),
            ("Flowlog.Dev/shard=1", "prefix"),
            ("-a=1", "label key"),
            ("a=b c", "label value"),
            ("a=-x", "label value"),
            ("a in ()", "at least one value"),
            ("a in x", "parentheses"),
            ("a in (x", "without `)`"),
            ("a ~ b", "expected an operator"),
            ("a>b", "integer"),
            ("=1", "missing label key"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_digest_is_stable_and_spelling_blind() {
        let a: LabelSelector = "flowlog.dev/shard=1".parse().unwrap();
        let b: LabelSelector = "flowlog.dev/shard == 1".parse().unwrap();
        let c: LabelSelector = "flowlog.dev/shard=2".parse().unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.digest().len(), 8);
        // Fixed: a Lease named after it must survive upgrades.
        assert_eq!(a.digest(), "cd74e677");
    }
}
