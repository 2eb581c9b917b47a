//! A small HTTP/1.1 server connection written by hand over a `TcpStream`, so that faults
//! can do what a framework would forbid: drop a connection mid-exchange or write raw bytes.
//!
//! Supports keep-alive, `Content-Length` and chunked request bodies, `Expect:
//! 100-continue` and `Connection: close`. Responses always carry `Content-Length`.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::MAX_BODY_BYTES;
use crate::server::{Incoming, Reply, Response, Shared};

/// Request heads larger than this are refused with 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// More headers than this are refused with 431.
const MAX_HEADERS: usize = 100;
/// A chunk-size line or trailer section longer than this is malformed.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// The request line and headers of one request.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    /// The minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    minor_version: u8,
    /// Names lowercased, in the order received.
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn wants_close(&self) -> bool {
        if self.minor_version == 0 {
            !self.connection_has("keep-alive")
        } else {
            self.connection_has("close")
        }
    }
}

enum ReadError {
    /// The peer closed or the socket failed: nothing can be answered.
    Gone,
    Malformed(&'static str),
    HeadTooLarge,
    BodyTooLarge,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Gone
    }
}

struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet consumed; may hold the start of a pipelined next request.
    buf: Vec<u8>,
}

/// Serves requests on one connection until either side closes it.
pub(crate) async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(8 * 1024),
    };
    loop {
        let head = match conn.read_head().await {
            Ok(Some(head)) => head,
            Ok(None) | Err(ReadError::Gone) => return,
            Err(error) => return conn.refuse(&shared, None, &error).await,
        };
        let body = match conn.read_body(&head).await {
            Ok(body) => body,
            Err(ReadError::Gone) => return,
            Err(error) => return conn.refuse(&shared, Some(&head), &error).await,
        };

        let close = head.wants_close();
        let is_head_method = head.method == "HEAD";
        let reply = crate::server::handle(
            &shared,
            Incoming {
                method: head.method,
                target: head.target,
                headers: head.headers,
                body,
            },
        )
        .await;
        match reply {
            Reply::Http(response) => {
                if !conn.write_response(&response, close, is_head_method).await || close {
                    return;
                }
            }
            Reply::Drop => return,
            Reply::Raw(bytes) => {
                let _ = conn.stream.write_all(&bytes).await;
                let _ = conn.stream.shutdown().await;
                return;
            }
        }
    }
}

impl ReadError {
    fn status_and_message(&self) -> (u16, String) {
        match self {
            ReadError::Gone => (400, "connection closed mid-request".to_owned()),
            ReadError::Malformed(why) => (400, (*why).to_owned()),
            ReadError::HeadTooLarge => (431, "request head too large".to_owned()),
            ReadError::BodyTooLarge => (
                413,
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            ),
        }
    }
}

impl Conn {
    /// Answers a request that could not be read whole, then closes: the unread rest of it
    /// is still in flight, so the connection cannot carry another request.
    async fn refuse(&mut self, shared: &Shared, head: Option<&Head>, error: &ReadError) {
        let (status, message) = error.status_and_message();
        let response = shared.refuse(head, status, &message);
        self.write_response(&response, true, false).await;
    }

    /// Reads more bytes into the buffer; `Gone` at end of stream.
    async fn more(&mut self) -> Result<(), ReadError> {
        self.buf.reserve(8 * 1024);
        match self.stream.read_buf(&mut self.buf).await? {
            0 => Err(ReadError::Gone),
            _ => Ok(()),
        }
    }

    /// The next request head, or `None` when the peer closed between requests.
    async fn read_head(&mut self) -> Result<Option<Head>, ReadError> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = self.parse_head()? {
                    return Ok(Some(head));
                }
                if self.buf.len() > MAX_HEAD_BYTES {
                    return Err(ReadError::HeadTooLarge);
                }
            }
            self.buf.reserve(8 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Gone)
                };
            }
        }
    }

    fn parse_head(&mut self) -> Result<Option<Head>, ReadError> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut slots);
        let consumed = match request.parse(&self.buf) {
            Ok(httparse::Status::Complete(consumed)) => consumed,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
            Err(_) => return Err(ReadError::Malformed("malformed request head")),
        };
        let head = Head {
            method: request.method.unwrap_or_default().to_owned(),
            target: request.path.unwrap_or_default().to_owned(),
            minor_version: request.version.unwrap_or(1),
            headers: request
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect(),
        };
        self.buf.drain(..consumed);
        Ok(Some(head))
    }

    async fn read_body(&mut self, head: &Head) -> Result<Vec<u8>, ReadError> {
        if let Some(coding) = head.header("transfer-encoding") {
            let last = coding.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(ReadError::Malformed("unsupported transfer-encoding"));
            }
            self.continue_if_expected(head).await?;
            return self.read_chunked().await;
        }
        let length = match head.header("content-length") {
            None => 0,
            Some(value) => value
                .trim()
                .parse::<usize>()
                .map_err(|_| ReadError::Malformed("invalid content-length"))?,
        };
        if length > MAX_BODY_BYTES {
            return Err(ReadError::BodyTooLarge);
        }
        if length > 0 {
            self.continue_if_expected(head).await?;
        }
        while self.buf.len() < length {
            self.more().await?;
        }
        Ok(self.buf.drain(..length).collect())
    }

    /// Clients that sent `Expect: 100-continue` wait for this before sending the body.
    async fn continue_if_expected(&mut self, head: &Head) -> Result<(), ReadError> {
        let expects = head
            .header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
        if expects {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        Ok(())
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let (consumed, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_LINE_BYTES => {
                        return Err(ReadError::Malformed("chunk size line too long"));
                    }
                    Ok(httparse::Status::Partial) => self.more().await?,
                    Err(_) => return Err(ReadError::Malformed("invalid chunk size")),
                }
            };
            self.buf.drain(..consumed);
            if size == 0 {
                self.skip_trailers().await?;
                return Ok(body);
            }
            let size = usize::try_from(size).map_err(|_| ReadError::BodyTooLarge)?;
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Err(ReadError::BodyTooLarge);
            }
            while self.buf.len() < size + 2 {
                self.more().await?;
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(ReadError::Malformed("chunk not followed by CRLF"));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }

    /// Trailer fields carry nothing the simulator uses; they end at an empty line.
    async fn skip_trailers(&mut self) -> Result<(), ReadError> {
        loop {
            match self.buf.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.buf.drain(..2);
                    return Ok(());
                }
                Some(end) => {
                    self.buf.drain(..end + 2);
                }
                None if self.buf.len() > MAX_LINE_BYTES => {
                    return Err(ReadError::Malformed("trailer section too long"));
                }
                None => self.more().await?,
            }
        }
    }

    /// Writes one response; `false` when the peer is gone.
    async fn write_response(&mut self, response: &Response, close: bool, omit_body: bool) -> bool {
        let bytes = encode(response, close, omit_body);
        let written = self.stream.write_all(&bytes).await.is_ok();
        if close {
            let _ = self.stream.shutdown().await;
        }
        written
    }
}

fn encode(response: &Response, close: bool, omit_body: bool) -> Vec<u8> {
    let has = |name: &str| {
        response
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has("content-length") {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    if !has("date") {
        let now = crate::clock::http_date(crate::clock::now_unix());
        head.push_str(&format!("Date: {now}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !omit_body {
        bytes.extend_from_slice(&response.body);
    }
    bytes
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
