//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, so the tests see exactly the
//! bytes the simulator writes, and a JWT signer written independently of the simulator's.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use heymarket_simulator::Simulator;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const SEND: &str = "/v1/message/send";
pub const SMS: &str =
    r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"Hi"}"#;

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection that reads responses framed by `Content-Length`.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(sim: &Simulator) -> Client {
        let stream = TcpStream::connect(sim.addr()).expect("connect to the simulator");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Reads one response; `None` when the server closed without a complete one.
    pub fn read_reply(&mut self) -> Option<Reply> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut slots);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buf).unwrap() {
                let status = response.code.unwrap();
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .expect("every response has a Content-Length");
                while self.buf.len() < head_len + length {
                    if !self.fill() {
                        return None;
                    }
                }
                let body = self.buf[head_len..head_len + length].to_vec();
                self.buf.drain(..head_len + length);
                // Interim responses precede the real one.
                if status == 100 {
                    continue;
                }
                return Some(Reply {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Every byte until the server closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Exactly `n` bytes, however they are framed.
    pub fn read_raw(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "connection closed before {n} bytes arrived");
        }
        self.buf.drain(..n).collect()
    }

    /// Whether the server has closed its side (reads end of stream).
    pub fn is_closed(&mut self) -> bool {
        !self.fill()
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// Builds a request with `Content-Length`; `auth` is the whole `Authorization` value.
pub fn request(method: &str, path: &str, auth: Option<&str>, body: &str) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: sim\r\n");
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head.into_bytes()
}

/// Sends one request on a fresh connection and reads the answer.
pub fn call(sim: &Simulator, method: &str, path: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut client = Client::connect(sim);
    client.write(&request(method, path, auth, body));
    client.read_reply().expect("a complete response")
}

/// `POST /v1/message/send` with `Bearer <token>`.
pub fn send(sim: &Simulator, token: &str, body: &str) -> Reply {
    call(sim, "POST", SEND, Some(&format!("Bearer {token}")), body)
}

/// `POST /v1/message/send` with the default API key.
pub fn send_default(sim: &Simulator, body: &str) -> Reply {
    send(sim, heymarket_simulator::DEFAULT_API_KEY, body)
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT made from its parts, so tests can also forge broken ones.
pub fn jwt(header: &str, payload: &str, signing_key: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// A vendor-style token for `secret_id`, signed with `"<id>||<key>"`.
pub fn vendor_jwt(secret_id: &str, secret_key: &str, iat: i64) -> String {
    jwt(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &format!(r#"{{"iss":"{secret_id}","iat":{iat}}}"#),
        &format!("{secret_id}||{secret_key}"),
    )
}

pub fn start() -> Simulator {
    Simulator::start(heymarket_simulator::Config::default()).expect("start the simulator")
}
