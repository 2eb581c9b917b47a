//! Settings and credentials, read from the environment the host gave the component.
//!
//! Secrets stay inside [`Secret`], whose `Debug` prints a placeholder; they are opened
//! only to sign a token or write the `Authorization` header.

use core::fmt;
use core::time::Duration;

use crate::limits;
use crate::text::quoted;

/// A credential that must never be printed, logged or returned.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself. Call only where it goes on the wire or into a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An API secret: each request carries a freshly signed HS256 token.
    Jwt {
        secret_id: String,
        secret_key: Secret,
    },
    /// A team API key sent as the bearer token.
    ApiKey(Secret),
}

impl Credentials {
    /// The secrets that must never appear in anything the component returns.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Jwt { secret_key, .. } => vec![secret_key.expose()],
            Credentials::ApiKey(key) => vec![key.expose()],
        }
    }
}

/// Where requests go: the scheme, authority and path prefix of `HEYMARKET_BASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub https: bool,
    pub authority: String,
    pub path_prefix: String,
}

impl BaseUrl {
    /// The full URL of `path` below the base, as shown in messages.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}{path}", self.authority, self.path_prefix)
    }
}

/// Everything one send needs besides the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub credentials: Credentials,
    pub base_url: BaseUrl,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub deadline: Duration,
    pub backoff_base: Duration,
}

impl Settings {
    /// Reads the settings through `var`, which returns a variable's value if set.
    ///
    /// Errors name the variable and the rule; they never contain a secret's value.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let credentials = credentials(&var)?;
        let base_url = match var("HEYMARKET_BASE_URL") {
            Some(url) => parse_base_url(&url)?,
            None => parse_base_url(limits::DEFAULT_BASE_URL)?,
        };
        Ok(Settings {
            credentials,
            base_url,
            timeout: millis(&var, "HEYMARKET_TIMEOUT_MS", limits::TIMEOUT_MS_RANGE)?
                .unwrap_or(limits::DEFAULT_TIMEOUT),
            max_attempts: number(&var, "HEYMARKET_MAX_ATTEMPTS", limits::MAX_ATTEMPTS_RANGE)?
                .unwrap_or(limits::DEFAULT_MAX_ATTEMPTS),
            deadline: millis(&var, "HEYMARKET_DEADLINE_MS", limits::DEADLINE_MS_RANGE)?
                .unwrap_or(limits::DEFAULT_DEADLINE),
            backoff_base: millis(
                &var,
                "HEYMARKET_BACKOFF_BASE_MS",
                limits::BACKOFF_BASE_MS_RANGE,
            )?
            .unwrap_or(limits::DEFAULT_BACKOFF_BASE),
        })
    }
}

fn credentials(var: &impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let secret_id = var("HEYMARKET_SECRET_ID");
    let secret_key = var("HEYMARKET_SECRET_KEY");
    let api_key = var("HEYMARKET_API_KEY");
    for (name, value) in [
        ("HEYMARKET_SECRET_ID", &secret_id),
        ("HEYMARKET_SECRET_KEY", &secret_key),
        ("HEYMARKET_API_KEY", &api_key),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(format!("{name} is set but empty"));
        }
    }
    match (secret_id, secret_key, api_key) {
        (Some(secret_id), Some(secret_key), _) => Ok(Credentials::Jwt {
            secret_id,
            secret_key: Secret::new(secret_key),
        }),
        (Some(_), None, _) => {
            Err("HEYMARKET_SECRET_ID is set without HEYMARKET_SECRET_KEY: set both".into())
        }
        (None, Some(_), _) => {
            Err("HEYMARKET_SECRET_KEY is set without HEYMARKET_SECRET_ID: set both".into())
        }
        (None, None, Some(key)) => Ok(Credentials::ApiKey(Secret::new(key))),
        (None, None, None) => Err("no credentials: set HEYMARKET_SECRET_ID and \
                                   HEYMARKET_SECRET_KEY (an API secret), or HEYMARKET_API_KEY"
            .into()),
    }
}

fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    (min, max): (u32, u32),
) -> Result<Option<u32>, String> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{name} must be a whole number from {min} to {max}, not {}",
            quoted(&value)
        )),
    }
}

fn millis(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    (min, max): (u64, u64),
) -> Result<Option<Duration>, String> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(Duration::from_millis(n))),
        _ => Err(format!(
            "{name} must be a whole number of milliseconds from {min} to {max}, not {}",
            quoted(&value)
        )),
    }
}

/// Parses the base URL. Plain `http` is allowed only to a loopback host, so that a
/// credential never crosses a network unencrypted.
pub fn parse_base_url(url: &str) -> Result<BaseUrl, String> {
    let bad = |why: &str| {
        format!(
            "HEYMARKET_BASE_URL {why}, not {}",
            quoted(&without_userinfo(url))
        )
    };
    let Some((scheme, rest)) = crate::text::split_once(url, "://") else {
        return Err(bad(
            "must be an absolute URL such as https://api.heymarket.com",
        ));
    };
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("must use https")),
    };
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must be a plain URL without query, fragment or spaces"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(bad("must not contain user information; credentials go in \
                        HEYMARKET_API_KEY or HEYMARKET_SECRET_*"));
    }
    let host = host_of(authority);
    if host.is_empty() {
        return Err(bad("must name a host"));
    }
    if !https && !is_loopback(host) {
        return Err(bad(
            "must use https: plain http is allowed only for loopback hosts (127.0.0.1, \
             [::1], localhost), so credentials never cross a network in clear text",
        ));
    }
    Ok(BaseUrl {
        https,
        authority: authority.to_owned(),
        path_prefix: path.trim_end_matches('/').to_owned(),
    })
}

/// `url` with any `user:password@` replaced, for error messages: people do paste a
/// credential there, and an error must not repeat it.
fn without_userinfo(url: &str) -> String {
    let start = crate::text::find(url.as_bytes(), b"://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// The host part of `host[:port]` or `[v6][:port]`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "::1" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4 && octets[0] == "127" && octets.iter().all(|o| o.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn an_api_secret_is_preferred_over_an_api_key() {
        let s = Settings::from_env(env(&[
            ("HEYMARKET_API_KEY", "k"),
            ("HEYMARKET_SECRET_ID", "id"),
            ("HEYMARKET_SECRET_KEY", "sk"),
        ]))
        .unwrap();
        assert!(matches!(s.credentials, Credentials::Jwt { .. }));
        assert_eq!(s.base_url.url("/x"), "https://api.heymarket.com/x");
        assert_eq!(s.max_attempts, 3);
        assert_eq!(s.timeout, Duration::from_secs(30));
    }

    #[test]
    fn missing_or_half_credentials_name_the_variable() {
        let err = Settings::from_env(env(&[])).unwrap_err();
        assert!(err.contains("HEYMARKET_API_KEY"));
        let err = Settings::from_env(env(&[("HEYMARKET_SECRET_ID", "id")])).unwrap_err();
        assert!(err.contains("HEYMARKET_SECRET_KEY"));
        let err = Settings::from_env(env(&[("HEYMARKET_API_KEY", " ")])).unwrap_err();
        assert!(err.contains("HEYMARKET_API_KEY is set but empty"));
    }

    #[test]
    fn bad_numbers_name_the_variable_and_range() {
        let err = Settings::from_env(env(&[
            ("HEYMARKET_API_KEY", "k"),
            ("HEYMARKET_MAX_ATTEMPTS", "0"),
        ]))
        .unwrap_err();
        assert!(err.contains("HEYMARKET_MAX_ATTEMPTS must be a whole number from 1 to 10"));
        let err = Settings::from_env(env(&[
            ("HEYMARKET_API_KEY", "k"),
            ("HEYMARKET_TIMEOUT_MS", "soon"),
        ]))
        .unwrap_err();
        assert!(err.contains("HEYMARKET_TIMEOUT_MS"));
    }

    #[test]
    fn plain_http_is_allowed_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1/",
            "http://[::1]:9/base/",
            "https://api.example.com",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.heymarket.com",
            "http://10.0.0.1",
            "http://127.0.0.1.evil.com",
            "ftp://127.0.0.1",
            "https://user:pw@api.heymarket.com",
            "https://api.heymarket.com/?q=1",
            "api.heymarket.com",
            "https://",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
        for with_password in [
            "https://user:hunter22@api.heymarket.com",
            "ftp://user:hunter22@127.0.0.1",
            "user:hunter22@api.heymarket.com/x",
            "http://a:hunter22@10.0.0.1/?q",
        ] {
            let err = parse_base_url(with_password).unwrap_err();
            assert!(!err.contains("hunter22"), "{err}");
            assert!(err.contains("[redacted]@"), "{err}");
        }
        let url = parse_base_url("http://[::1]:9/base/").unwrap();
        assert_eq!(url.url("/v1"), "http://[::1]:9/base/v1");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let s = Settings::from_env(env(&[
            ("HEYMARKET_SECRET_ID", "id"),
            ("HEYMARKET_SECRET_KEY", "very-secret"),
        ]))
        .unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
