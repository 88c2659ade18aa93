//! Entra tenant IDs and application (client) IDs, checked in one place before they reach a URL, a query or a form,
//! wherever they come from: flags, the environment, a credentials Secret, a managed identity's client ID.
//!
//! A tenant ID is a GUID, a DNS domain name of at least two labels (`contoso.onmicrosoft.com`: letters, digits and
//! hyphens, labels of 1 to 63 characters that neither start nor end with a hyphen, 253 characters at most), or
//! `adfs` (Azure Stack Hub with AD FS) — the rule the chart's values schema applies. A client ID is a GUID. Errors
//! describe what is wrong without repeating the value: a Secret's key may hold something that is not meant to be
//! shown (a client secret pasted into `clientId`).

use crate::azure::error::ArmError;

/// The longest DNS name (RFC 1035).
const MAX_DOMAIN: usize = 253;
/// The longest DNS label (RFC 1035).
const MAX_LABEL: usize = 63;

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal digits in either case.
pub fn is_guid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Checks a tenant ID; `source` says where it came from (`AZURE_TENANT_ID`, a Secret's key, ...).
pub fn check_tenant_id(value: &str, source: &str) -> Result<(), ArmError> {
    if is_guid(value) || value.eq_ignore_ascii_case("adfs") {
        return Ok(());
    }
    domain_problem(value).map_or(Ok(()), |why| {
        Err(ArmError::Config(format!(
            "{source} is not a tenant ID: expected a GUID or a domain name such as contoso.onmicrosoft.com, but {why}"
        )))
    })
}

/// Checks an application (client) ID, of a service principal or a managed identity.
pub fn check_client_id(value: &str, source: &str) -> Result<(), ArmError> {
    if is_guid(value) {
        return Ok(());
    }
    let why = if value.is_empty() {
        "it is empty".to_string()
    } else if let Some(odd) = first_odd_character(value) {
        odd
    } else if value.len() != 36 {
        format!("it has {} characters, not the 36 of a GUID", value.len())
    } else {
        "it is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".to_string()
    };
    Err(ArmError::Config(format!(
        "{source} is not a client ID: expected a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), but {why}"
    )))
}

/// Why `value` is not a DNS domain name of two labels or more, or `None` when it is one.
fn domain_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".into());
    }
    if let Some(odd) = first_odd_character(value) {
        return Some(odd);
    }
    // Only ASCII letters, digits, '-' and '.' from here on: byte lengths are character counts.
    if value.len() > MAX_DOMAIN {
        return Some(format!("it has {} characters (a domain name has at most {MAX_DOMAIN})", value.len()));
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Some("it has an empty label (a leading, trailing or doubled '.')".into());
    }
    if labels.len() < 2 {
        return Some("it is a single word, neither a GUID nor a domain name".into());
    }
    if labels.iter().any(|l| l.len() > MAX_LABEL) {
        return Some(format!("a label is longer than {MAX_LABEL} characters"));
    }
    if labels.iter().any(|l| l.starts_with('-') || l.ends_with('-')) {
        return Some("a label starts or ends with '-'".into());
    }
    None
}

/// The first character that no tenant or client ID contains (anything but ASCII letters, digits, '-' and '.'),
/// described without quoting the value around it.
fn first_odd_character(value: &str) -> Option<String> {
    let (position, c) =
        value.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))?;
    let what = if c == '\\' {
        "a backslash".to_string()
    } else if c.is_whitespace() {
        "whitespace".to_string()
    } else if c.is_control() {
        "a control character".to_string()
    } else if !c.is_ascii() {
        "a non-ASCII character".to_string()
    } else {
        format!("{c:?}")
    };
    Some(format!("character {} is {what}", position + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "11111111-1111-1111-1111-111111111111";

    fn tenant(value: &str) -> Result<(), String> {
        check_tenant_id(value, "the tenant ID").map_err(|e| e.to_string())
    }

    fn client(value: &str) -> Result<(), String> {
        check_client_id(value, "the client ID").map_err(|e| e.to_string())
    }

    #[test]
    fn guids_domains_and_adfs_are_tenant_ids() {
        for ok in [
            GUID,
            "ABCDEF01-2345-6789-abcd-ef0123456789",
            "contoso.onmicrosoft.com",
            "Contoso.OnMicrosoft.com",
            "a.b",
            "xn--bcher-kva.example",
            "my-tenant.onmicrosoft.us",
            "adfs",
            "ADFS",
        ] {
            assert_eq!(tenant(ok), Ok(()), "{ok}");
        }
        let label = "a".repeat(63);
        assert_eq!(tenant(&format!("{label}.{label}.{label}.{}", "b".repeat(61))), Ok(()), "253 characters");
    }

    #[test]
    fn anything_that_could_steer_a_url_is_not_a_tenant_id() {
        let cases: &[(&str, &str)] = &[
            // A backslash: URL parsers treat it as '/', and `\\evil.example` would make the token URL another host's.
            ("\\\\evil.example", "character 1 is a backslash"),
            ("\\evil.example", "character 1 is a backslash"),
            ("evil.example\\x", "character 13 is a backslash"),
            ("//evil.example", "character 1 is '/'"),
            ("a/b", "character 2 is '/'"),
            ("..", "empty label"),
            ("../evil.example", "character 3 is '/'"),
            (".", "empty label"),
            ("contoso..com", "empty label"),
            (".contoso.com", "empty label"),
            ("contoso.com.", "empty label"),
            ("user@evil.example", "character 5 is '@'"),
            ("evil.example:443", "character 13 is ':'"),
            ("evil.example?x=1", "character 13 is '?'"),
            ("evil.example#x", "character 13 is '#'"),
            ("%2F%2Fevil.example", "character 1 is '%'"),
            ("%5C%5Cevil.example", "character 1 is '%'"),
            ("contoso.com%00", "character 12 is '%'"),
            (" contoso.com", "character 1 is whitespace"),
            ("contoso.com ", "character 12 is whitespace"),
            ("contoso.com\n", "character 12 is whitespace"),
            ("contoso\t.com", "character 8 is whitespace"),
            ("contoso\u{0}.com", "character 8 is a control character"),
            ("contoso\u{7f}.com", "character 8 is a control character"),
            ("cöntoso.com", "character 2 is a non-ASCII character"),
            ("contoso\u{ff0e}com", "character 8 is a non-ASCII character"),
            ("evil\u{2215}example.com", "character 5 is a non-ASCII character"),
            ("-contoso.com", "starts or ends with '-'"),
            ("contoso-.com", "starts or ends with '-'"),
            ("common", "single word"),
            ("tenant", "single word"),
            ("", "empty"),
        ];
        for (value, why) in cases {
            let err = tenant(value).expect_err(value);
            assert!(err.contains(why), "{value:?}: {err}");
            assert!(err.contains("the tenant ID is not a tenant ID"), "{err}");
        }
        assert!(tenant(&format!("{}.com", "a".repeat(64))).unwrap_err().contains("longer than 63"));
        let huge = format!("{}.com", "a.".repeat(200_000));
        let err = tenant(&huge).unwrap_err();
        assert!(err.contains("400004 characters") && err.len() < 200, "{err}");
    }

    #[test]
    fn errors_never_repeat_the_value() {
        for value in ["s3cr3t~value", "s3cr3t value.example", "s3cr3t/..", &"s3cr3t".repeat(100)] {
            for err in [tenant(value).unwrap_err(), client(value).unwrap_err()] {
                assert!(!err.contains("s3cr3t"), "{err}");
            }
        }
    }

    #[test]
    fn client_ids_are_guids() {
        assert_eq!(client(GUID), Ok(()));
        assert_eq!(client(&GUID.to_uppercase()), Ok(()));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("client", "6 characters"),
            ("contoso.onmicrosoft.com", "23 characters"),
            ("11111111111111111111111111111111", "32 characters"),
            ("{11111111-1111-1111-1111-111111111111}", "character 1 is '{'"),
            ("11111111-1111-1111-1111-11111111111g", "not of the form"),
            ("111111111-111-1111-1111-111111111111", "not of the form"),
            ("11111111-1111-1111-1111-11111111111\u{e9}", "character 36 is a non-ASCII character"),
            (" 11111111-1111-1111-1111-111111111111", "character 1 is whitespace"),
            ("11111111-1111-1111-1111-111111111111&resource=x", "character 37 is '&'"),
            ("\\\\evil.example", "character 1 is a backslash"),
        ];
        for (value, why) in cases {
            let err = client(value).expect_err(value);
            assert!(err.contains(why), "{value:?}: {err}");
        }
        let huge = "1".repeat(1 << 20);
        let err = client(&huge).unwrap_err();
        assert!(err.contains("1048576 characters") && err.len() < 200, "{err}");
    }
}
