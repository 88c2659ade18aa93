//! Authentication, kept free of HTTP so unit tests can drive it: the tokens the simulator issues ([`Tokens`]), and
//! how they are got and checked — the Entra ID token endpoint for client secrets and federated assertions
//! (`entra.rs`), the IMDS endpoint for managed identities (`imds.rs`), and ARM's bearer-token checks (`arm.rs`).

mod arm;
mod entra;
mod imds;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An access token the simulator issued. Tokens have a JWT's shape, as Entra ID's do (`header.payload.signature`,
/// base64url): the payload carries `aud` (the resource without its trailing slash), `iss`
/// (`https://sts.windows.net/{tenant}/`), `iat`, `nbf`, `exp`, `appid` and `tid`, so that a storage emulator that
/// reads claims without checking signatures (Azurite's `--oauth basic`) accepts them; the signature is random bytes
/// (nothing can verify it), which also makes every token unique.
pub(super) struct Token {
    pub expires: SystemTime,
    /// The resource it was issued for (`https://management.azure.com/`).
    pub audience: String,
    /// The client ID of the principal or managed identity (ARM's throttling "actor").
    pub actor: String,
}

/// The tokens issued, by value.
#[derive(Default)]
pub(super) struct Tokens(HashMap<String, Token>);

impl Tokens {
    /// The tokens issued that are still kept.
    pub(super) fn issued(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    fn issue(&mut self, lifetime: u64, audience: &str, actor: &str, tenant: &str, now: SystemTime) -> String {
        // Expired tokens are kept a while so that ARM can tell "expired" from "never issued".
        self.0.retain(|_, t| t.expires + Duration::from_secs(3600) > now);
        let token = jwt_shaped(lifetime, audience, actor, tenant, now);
        let expires = now + Duration::from_secs(lifetime);
        self.0.insert(token.clone(), Token { expires, audience: audience.into(), actor: actor.into() });
        token
    }
}

/// A token in a JWT's shape (see [`Token`]).
pub(crate) fn jwt_shaped(lifetime: u64, audience: &str, actor: &str, tenant: &str, now: SystemTime) -> String {
    let iat = unix_seconds(now);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256"});
    let claims = serde_json::json!({
        "aud": audience.trim_end_matches('/'),
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "appid": actor,
        "tid": tenant,
    });
    let signature: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..)).take(48).collect();
    format!(
        "{}.{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes()),
        base64url_encode(&signature)
    )
}

/// base64url without padding, as JWTs use it.
pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    base64_with(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false)
}

/// Standard base64 with padding, as the Blob service's block IDs use it.
pub(crate) fn base64_standard(bytes: &[u8]) -> String {
    base64_with(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true)
}

fn base64_with(bytes: &[u8], alphabet: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
        }
    }
    out
}

pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// (year, month, day, hour, minute, second) in UTC.
pub(crate) fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = unix_seconds(t) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32)
}

/// `2024-10-02T22:05:03.6755165Z`, as Entra ID writes times.
pub(crate) fn iso_time(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let ticks = t.duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos() / 100;
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ticks:07}Z")
}

/// `6/15/2026 8:22:51 AM`, as ARM writes times.
fn us_time(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{mo}/{d}/{y} {h12}:{mi:02}:{s:02} {half}")
}

/// What the unit tests of the token endpoints share.
#[cfg(test)]
mod testing {
    use std::collections::HashMap;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub(super) const ARM: &str = "https://management.azure.com/.default";

    pub(super) fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub(super) fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}
