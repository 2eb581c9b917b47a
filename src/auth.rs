//! The `Authorization` header: a bearer API key, or an HS256 token signed per request
//! as Heymarket's API secrets require.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::settings::{Credentials, Secret};

/// The value of the `Authorization` header for a request made at `unix_time`.
///
/// The value is a [`Secret`] because a signed token is a credential for five minutes.
pub fn authorization(credentials: &Credentials, unix_time: u64) -> Secret {
    let token = match credentials {
        Credentials::ApiKey(key) => key.expose().to_owned(),
        Credentials::Jwt {
            secret_id,
            secret_key,
        } => sign_token(secret_id, secret_key, unix_time),
    };
    Secret::new(format!("Bearer {token}"))
}

/// Signs `{"iss": secret_id, "iat": unix_time}` with HMAC-SHA256 keyed by
/// `"<secret id>||<secret key>"`. Heymarket accepts it for five minutes after `iat`, so
/// one is made per request rather than cached.
pub fn sign_token(secret_id: &str, secret_key: &Secret, unix_time: u64) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = crate::json::Object::new()
        .u64("iat", unix_time)
        .str("iss", secret_id)
        .finish();
    let signing_input = format!("{header}.{}", base64url(claims.as_bytes()));

    let key = format!("{secret_id}||{}", secret_key.expose());
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac accepts any key");
    mac.update(signing_input.as_bytes());
    let signature = base64url(&mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Base64url without padding (RFC 4648 §5), as JWTs use.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let sextets = chunk.len() + 1;
        for i in 0..sextets {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors_without_padding() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (&[0xfb, 0xff, 0xbf], "-_-_"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64url(input), expected);
        }
    }

    #[test]
    fn token_has_the_documented_header_and_claims() {
        let token = sign_token("id-1", &Secret::new("key".into()), 1_700_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], base64url(br#"{"alg":"HS256","typ":"JWT"}"#));
        assert_eq!(parts[1], base64url(br#"{"iat":1700000000,"iss":"id-1"}"#));
    }

    #[test]
    fn signature_matches_an_independent_hmac_computation() {
        // Computed with: printf '%s' "$header.$claims" |
        //   openssl dgst -sha256 -hmac 'id-1||key' -binary | basenc --base64url | tr -d =
        let token = sign_token("id-1", &Secret::new("key".into()), 1_700_000_000);
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(signature, "Rag22rdeuko2ShuqllfqNuLNF_o54YdTMEOIc1gFExQ");
    }

    #[test]
    fn api_key_is_the_bearer_token() {
        let auth = authorization(&Credentials::ApiKey(Secret::new("k-1".into())), 0);
        assert_eq!(auth.expose(), "Bearer k-1");
    }
}
