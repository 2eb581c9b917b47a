//! The vendor's two auth schemes: team API keys (Bearer or Basic) and HS256 JWTs signed
//! with an API secret. Error messages never contain the token, key or secret.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::{Config, JWT_LIFETIME_SECS, JWT_MAX_FUTURE_SKEW_SECS};

type HmacSha256 = Hmac<Sha256>;

/// Signs a JWT the way a Heymarket client must: HS256 over `{"iss", "iat"}` with the key
/// `"<secret id>||<secret key>"`. A convenience for tests that need a valid token.
pub fn sign_jwt(secret_id: &str, secret_key: &str, iat: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    // Claims in the vendor's documented order, `iss` then `iat`.
    let payload = format!(r#"{{"iss":{},"iat":{iat}}}"#, Value::from(secret_id));
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let mut mac = signer(secret_id, secret_key);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Finds which credential sent the request, or explains (without secrets) why none did.
///
/// The credential is named `api-key:#<index>` or `jwt:<secret id>`.
pub(crate) fn authenticate(
    config: &Config,
    authorization: Option<&str>,
    now: i64,
) -> Result<String, String> {
    let value = authorization
        .ok_or("missing Authorization header: send `Bearer <API key or JWT>`")?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        bearer(config, token, now)
    } else if scheme.eq_ignore_ascii_case("basic") {
        basic(config, token)
    } else {
        Err("unsupported Authorization scheme: use Bearer (or Basic with the API key)".into())
    }
}

fn bearer(config: &Config, token: &str, now: i64) -> Result<String, String> {
    if token.is_empty() {
        return Err("empty bearer token".into());
    }
    if let Some(index) = api_key_index(config, token) {
        return Ok(format!("api-key:#{index}"));
    }
    if token.split('.').count() == 3 {
        return jwt(config, token, now);
    }
    Err("invalid API key".into())
}

fn basic(config: &Config, encoded: &str) -> Result<String, String> {
    const HINT: &str = "use the API key as user name and an empty password";
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| format!("malformed Basic credentials: {HINT}"))?;
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    match api_key_index(config, user) {
        Some(index) if password.is_empty() => Ok(format!("api-key:#{index}")),
        _ => Err(format!("invalid Basic credentials: {HINT}")),
    }
}

fn jwt(config: &Config, token: &str, now: i64) -> Result<String, String> {
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Err("malformed JWT".into());
    };
    let Some((header, payload)) = signing_input.split_once('.') else {
        return Err("malformed JWT".into());
    };
    let header = decode_json(header).ok_or("malformed JWT header")?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("JWT alg must be HS256".into());
    }
    if header
        .get("typ")
        .is_some_and(|typ| typ.as_str() != Some("JWT"))
    {
        return Err("JWT typ must be JWT".into());
    }
    let claims = decode_json(payload).ok_or("malformed JWT payload")?;
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("JWT iss must be the API secret id")?;
    let issued_at = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("JWT iat must be an integer of Unix seconds")?;
    let (secret_id, secret_key) = config
        .jwt_secrets
        .iter()
        .find(|(id, _)| id == issuer)
        .ok_or("JWT iss is not a known API secret id")?;

    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "malformed JWT signature")?;
    let mut mac = signer(secret_id, secret_key);
    mac.update(signing_input.as_bytes());
    // `verify_slice` compares in constant time, so timing reveals nothing about the key.
    mac.verify_slice(&signature)
        .map_err(|_| "JWT signature does not match the API secret")?;

    if now > issued_at.saturating_add(JWT_LIFETIME_SECS) {
        return Err(format!(
            "JWT has expired: iat is more than {JWT_LIFETIME_SECS} s ago; sign a fresh token"
        ));
    }
    if issued_at > now.saturating_add(JWT_MAX_FUTURE_SKEW_SECS) {
        return Err("JWT iat is in the future: check the client clock".into());
    }
    Ok(format!("jwt:{secret_id}"))
}

fn signer(secret_id: &str, secret_key: &str) -> HmacSha256 {
    let key = format!("{secret_id}||{secret_key}");
    HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length")
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

fn api_key_index(config: &Config, candidate: &str) -> Option<usize> {
    config
        .api_keys
        .iter()
        .position(|key| constant_time_eq(key.as_bytes(), candidate.as_bytes()))
}

/// Compares without stopping at the first difference, as a real server would for keys.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_321_400;

    fn auth(header: &str) -> Result<String, String> {
        authenticate(&Config::default(), Some(header), NOW)
    }

    #[test]
    fn a_token_signed_by_sign_jwt_is_accepted_as_its_secret_id() {
        let token = sign_jwt("sim-secret-id", "sim-secret-key", NOW);
        assert_eq!(
            auth(&format!("Bearer {token}")).unwrap(),
            "jwt:sim-secret-id"
        );
    }

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        assert_eq!(auth("bearer sim-api-key").unwrap(), "api-key:#0");
    }

    #[test]
    fn a_token_at_the_end_of_its_lifetime_is_still_accepted() {
        let token = sign_jwt("sim-secret-id", "sim-secret-key", NOW - JWT_LIFETIME_SECS);
        assert!(auth(&format!("Bearer {token}")).is_ok());
        let token = sign_jwt(
            "sim-secret-id",
            "sim-secret-key",
            NOW - JWT_LIFETIME_SECS - 1,
        );
        assert!(
            auth(&format!("Bearer {token}"))
                .unwrap_err()
                .contains("expired")
        );
    }

    #[test]
    fn error_messages_never_contain_the_token() {
        for header in [
            "Bearer wrong-key",
            "Bearer a.b.c",
            "Basic d3Jvbmc6",
            "Token zzz",
        ] {
            let message = auth(header).unwrap_err();
            let token = header.split_once(' ').unwrap().1;
            assert!(!message.contains(token), "{message}");
        }
    }

    #[test]
    fn keys_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
