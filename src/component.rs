//! The exports and the only WASI code: WIT ⇄ core conversions, [`Io`] over
//! `wasi:http`, `wasi:clocks` and `wasi:random`, and the `wasi:http/incoming-handler`
//! glue that hands requests to [`crate::gateway`].

use core::time::Duration;

use crate::error::{ApiError, Permanent, SendError, Sent, Transient};
use crate::gateway::{self, Body, Reply};
use crate::message::{FieldError, Message};
use crate::segments::Encoding;
use crate::send::{Io, Outcome, Request, Response};
use crate::{limits, send::bounded_text};

wit_bindgen::generate!({
    path: "wit",
    world: "heymarket-sms",
    generate_all,
});

use exports::heymarket::sms::messages as wit;
use exports::wasi::http::incoming_handler;
use wasi::clocks::{monotonic_clock, wall_clock};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, FieldSizePayload, Fields, HeaderError, IncomingBody, IncomingRequest,
    IncomingResponse, Method, OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions,
    ResponseOutparam, Scheme,
};
use wasi::io::poll::{self, Pollable};
use wasi::io::streams::StreamError;

struct Component;

impl wit::Guest for Component {
    fn send_message(message: wit::Message) -> Result<wit::SentMessage, wit::SendError> {
        let var = |name: &str| std::env::var(name).ok();
        crate::send_message(message.into(), var, &mut WasiIo)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn preview_message(message: wit::Message) -> Result<wit::MessagePreview, wit::SendError> {
        let preview = crate::preview(message.into())?;
        Ok(wit::MessagePreview {
            body: preview.body,
            encoding: match preview.segments.encoding {
                Encoding::Gsm7 => wit::Encoding::Gsm7,
                Encoding::Ucs2 => wit::Encoding::Ucs2,
            },
            characters: preview.segments.characters,
            segments: preview.segments.segments,
        })
    }
}

impl incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let method = method_name(&request.method());
        let path = request.path_with_query().unwrap_or_default();
        let headers = request.headers().entries();
        let head = gateway::Head {
            method: &method,
            path: &path,
            headers: &headers,
        };
        let var = |name: &str| std::env::var(name).ok();
        let read_body = |cap| read_request_body(request, cap);
        let reply = gateway::handle(&head, read_body, var, &mut WasiIo);
        respond(response_out, reply);
    }
}

export!(Component);

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

/// Reads at most `cap + 1` bytes: one past the cap is enough to know the body is too
/// large, and nothing beyond it is ever buffered.
fn read_request_body(request: IncomingRequest, cap: usize) -> Body {
    let Ok(body) = request.consume() else {
        return Body::Broken("the body was already taken".into());
    };
    let Ok(stream) = body.stream() else {
        return Body::Broken("the body stream was already taken".into());
    };
    let deadline = monotonic_clock::now().saturating_add(nanos(limits::GATEWAY_BODY_TIMEOUT));
    let pollable = stream.subscribe();
    let mut bytes = Vec::new();
    loop {
        let room = (cap + 1 - bytes.len()) as u64;
        match stream.read(room) {
            Ok(chunk) if chunk.is_empty() => {
                if wait(&pollable, deadline).is_err() {
                    return Body::TimedOut;
                }
            }
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > cap {
                    return Body::TooLarge;
                }
            }
            Err(StreamError::Closed) => break,
            Err(e) => return Body::Broken(stream_error(e)),
        }
    }
    drop(pollable);
    drop(stream);
    drop(IncomingBody::finish(body));
    Body::Complete(bytes)
}

/// Sends `reply`. A client that went away cannot be told anything, so write failures
/// end the response quietly.
fn respond(response_out: ResponseOutparam, reply: Reply) {
    let headers = Fields::new();
    for (name, value) in &reply.headers {
        // The gateway's own header names and values are always valid.
        let _ = headers.append(name, value.as_bytes());
    }
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(reply.status);
    let body = response.body();
    ResponseOutparam::set(response_out, Ok(response));
    let Ok(body) = body else { return };
    if let Ok(stream) = body.write() {
        for chunk in reply.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

impl From<wit::Message> for Message {
    fn from(m: wit::Message) -> Self {
        Message {
            inbox_id: m.inbox_id,
            creator_id: m.creator_id,
            phone_number: m.phone_number,
            targets: m.targets,
            chat_id: m.chat_id,
            list_id: m.list_id,
            text: m.text,
            media_url: m.media_url,
            template_id: m.template_id,
            local_id: m.local_id,
            activity_id: m.activity_id,
            private: m.private,
            author: m.author,
            survey_id: m.survey_id,
        }
    }
}

impl From<Sent> for wit::SentMessage {
    fn from(s: Sent) -> Self {
        wit::SentMessage {
            id: s.id,
            date: s.date,
            gallery_url: s.gallery_url,
            local_id: s.local_id,
            request_id: s.request_id,
            attempts: s.attempts,
        }
    }
}

impl From<ApiError> for wit::ApiError {
    fn from(e: ApiError) -> Self {
        wit::ApiError {
            status: e.status,
            message: e.message,
            request_id: e.request_id,
            body: e.body,
        }
    }
}

impl From<SendError> for wit::SendError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Permanent(p) => wit::SendError::Permanent(match p {
                Permanent::InvalidMessage(errors) => wit::PermanentFailure::InvalidMessage(
                    errors
                        .into_iter()
                        .map(|FieldError { field, reason }| wit::FieldError { field, reason })
                        .collect(),
                ),
                Permanent::Configuration(t) => wit::PermanentFailure::Configuration(t),
                Permanent::Unauthorized(e) => wit::PermanentFailure::Unauthorized(e.into()),
                Permanent::Forbidden(e) => wit::PermanentFailure::Forbidden(e.into()),
                Permanent::Rejected(e) => wit::PermanentFailure::Rejected(e.into()),
            }),
            SendError::Transient(t) => wit::SendError::Transient(match t {
                Transient::RateLimited(e) => wit::TransientFailure::RateLimited(e.into()),
                Transient::Server(e) => wit::TransientFailure::Server(e.into()),
                Transient::Timeout(t) => wit::TransientFailure::Timeout(t),
                Transient::Connection(t) => wit::TransientFailure::Connection(t),
                Transient::InvalidResponse(e) => wit::TransientFailure::InvalidResponse(e.into()),
            }),
        }
    }
}

/// The component's view of the world through WASI.
struct WasiIo;

impl Io for WasiIo {
    fn monotonic(&mut self) -> Duration {
        Duration::from_nanos(monotonic_clock::now())
    }

    fn unix_time(&mut self) -> u64 {
        wall_clock::now().seconds
    }

    fn random_u64(&mut self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn sleep(&mut self, duration: Duration) {
        monotonic_clock::subscribe_duration(nanos(duration)).block();
    }

    fn perform(&mut self, request: &Request<'_>, timeout: Duration) -> Outcome {
        let deadline = monotonic_clock::now().saturating_add(nanos(timeout));
        match exchange(request, timeout, deadline) {
            Ok(response) => Outcome::Response(response),
            Err(outcome) => outcome,
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One HTTP exchange, bounded by `deadline` on the monotonic clock whether or not the
/// host honours the request options.
fn exchange(request: &Request<'_>, timeout: Duration, deadline: u64) -> Result<Response, Outcome> {
    let outgoing = build(request)?;
    let body = outgoing
        .body()
        .map_err(|()| Outcome::Refused("the request body was already taken".into()))?;
    let options = RequestOptions::new();
    // Hosts that do not support a timeout refuse to set it; the deadline below still
    // holds, so those refusals are ignored.
    let _ = options.set_connect_timeout(Some(nanos(timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(error_outcome)?;

    // A request the host fails (refused, unreachable) closes the body stream; the
    // cause is in the response future, and a server may also answer before reading the
    // whole body. So the future decides, and a write error is reported only when the
    // future has nothing better to say.
    let written = write_body(body, request.body);
    let pollable = future.subscribe();
    let response = loop {
        if let Some(result) = future.get() {
            break result
                .map_err(|()| Outcome::Connection("the response was already taken".into()))?
                .map_err(error_outcome)?;
        }
        if let Err(timeout) = wait(&pollable, deadline) {
            return Err(written.err().unwrap_or(timeout));
        }
    };
    drop(pollable);
    read_response(response, deadline)
}

fn build(request: &Request<'_>) -> Result<OutgoingRequest, Outcome> {
    let headers = Fields::new();
    let authorization = ("authorization", request.authorization.expose());
    for (name, value) in request
        .headers
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .chain([authorization])
    {
        headers.append(name, value.as_bytes()).map_err(|e| {
            let why = match e {
                HeaderError::InvalidSyntax => "invalid-syntax",
                HeaderError::Forbidden => "forbidden",
                HeaderError::Immutable => "immutable",
            };
            Outcome::Refused(format!("header {name} refused: {why}"))
        })?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let scheme = if request.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let refused = |what: &str| Outcome::Refused(format!("the host cannot use this {what}"));
    outgoing
        .set_method(&Method::Post)
        .map_err(|()| refused("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(request.authority))
        .map_err(|()| refused("host"))?;
    outgoing
        .set_path_with_query(Some(request.path))
        .map_err(|()| refused("path"))?;
    Ok(outgoing)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Outcome> {
    let stream = body
        .write()
        .map_err(|()| Outcome::Refused("the request body stream was already taken".into()))?;
    let broken = |e: StreamError| {
        Outcome::Connection(format!("sending the body failed: {}", stream_error(e)))
    };
    // The blocking write takes at most 4096 bytes a call.
    for chunk in bytes.chunks(4096) {
        stream.blocking_write_and_flush(chunk).map_err(broken)?;
    }
    drop(stream);
    OutgoingBody::finish(body, None).map_err(error_outcome)
}

fn read_response(response: IncomingResponse, deadline: u64) -> Result<Response, Outcome> {
    let mut result = Response {
        status: response.status(),
        ..Response::default()
    };
    let headers = response.headers();
    let header = |name: &str| headers.get(name).first().map(|v| bounded_text(v, 256));
    result.request_id = header("x-request-id");
    result.retry_after = header("retry-after");
    result.location = header("location");
    drop(headers);

    let body = response
        .consume()
        .map_err(|()| Outcome::Connection("the response body was already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|()| Outcome::Connection("the response body stream was already taken".into()))?;
    let pollable = stream.subscribe();
    while result.body.len() < limits::MAX_RESPONSE_BYTES {
        let room = (limits::MAX_RESPONSE_BYTES - result.body.len()) as u64;
        match stream.read(room) {
            Ok(bytes) if bytes.is_empty() => wait(&pollable, deadline)?,
            Ok(bytes) => result.body.extend_from_slice(&bytes),
            Err(StreamError::Closed) => break,
            Err(e) => {
                return Err(Outcome::Connection(format!(
                    "the answer (HTTP {}) broke off after {} body bytes: {}",
                    result.status,
                    result.body.len(),
                    stream_error(e)
                )));
            }
        }
    }
    // Whatever is left past the cap stays unread; dropping the body closes it.
    drop(pollable);
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok(result)
}

/// Blocks until `pollable` is ready, or fails with a timeout at `deadline`.
fn wait(pollable: &Pollable, deadline: u64) -> Result<(), Outcome> {
    let timer = monotonic_clock::subscribe_instant(deadline);
    let ready = poll::poll(&[pollable, &timer]);
    if ready.contains(&0) {
        Ok(())
    } else {
        Err(Outcome::Timeout(
            "no complete answer within the attempt's timeout".into(),
        ))
    }
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => describe(&code),
            None => e.to_debug_string(),
        },
    }
}

fn error_outcome(code: ErrorCode) -> Outcome {
    let text = describe(&code);
    match code {
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Outcome::Timeout(text),
        ErrorCode::HttpRequestDenied | ErrorCode::HttpRequestUriInvalid => Outcome::Refused(text),
        _ => Outcome::Connection(text),
    }
}

/// A sentence for the codes a caller meets most, else the WIT case name with any
/// payload, e.g. `DNS-error (rcode NXDOMAIN, info-code 3)`. Written out rather than
/// taken from the derived `Debug`, which would bring its formatting machinery into the
/// component for these texts alone.
fn describe(code: &ErrorCode) -> String {
    use ErrorCode as E;
    let sentence = match code {
        E::ConnectionRefused => "connection refused",
        E::ConnectionTerminated => "connection closed before a complete answer",
        E::DnsTimeout => "DNS lookup timed out",
        E::ConnectionTimeout => "connecting timed out",
        E::ConnectionReadTimeout | E::HttpResponseTimeout => {
            "no answer within the attempt's timeout"
        }
        E::HttpRequestDenied => "request denied by the host",
        E::HttpResponseIncomplete => "the answer ended early",
        _ => "",
    };
    if !sentence.is_empty() {
        return sentence.into();
    }
    let mut details = Details::default();
    let name = match code {
        E::DnsError(p) => {
            details.text("rcode", &p.rcode);
            details.number("info-code", p.info_code.map(u64::from));
            "DNS-error"
        }
        E::DestinationNotFound => "destination-not-found",
        E::DestinationUnavailable => "destination-unavailable",
        E::DestinationIpProhibited => "destination-IP-prohibited",
        E::DestinationIpUnroutable => "destination-IP-unroutable",
        E::ConnectionWriteTimeout => "connection-write-timeout",
        E::ConnectionLimitReached => "connection-limit-reached",
        E::TlsProtocolError => "TLS-protocol-error",
        E::TlsCertificateError => "TLS-certificate-error",
        E::TlsAlertReceived(p) => {
            details.number("alert-id", p.alert_id.map(u64::from));
            details.text("alert-message", &p.alert_message);
            "TLS-alert-received"
        }
        E::HttpRequestLengthRequired => "HTTP-request-length-required",
        E::HttpRequestBodySize(size) => {
            details.number("size", *size);
            "HTTP-request-body-size"
        }
        E::HttpRequestMethodInvalid => "HTTP-request-method-invalid",
        E::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        E::HttpRequestUriTooLong => "HTTP-request-URI-too-long",
        E::HttpRequestHeaderSectionSize(size) => {
            details.number("size", size.map(u64::from));
            "HTTP-request-header-section-size"
        }
        E::HttpRequestHeaderSize(p) => {
            if let Some(p) = p {
                details.field_size(p);
            }
            "HTTP-request-header-size"
        }
        E::HttpRequestTrailerSectionSize(size) => {
            details.number("size", size.map(u64::from));
            "HTTP-request-trailer-section-size"
        }
        E::HttpRequestTrailerSize(p) => {
            details.field_size(p);
            "HTTP-request-trailer-size"
        }
        E::HttpResponseHeaderSectionSize(size) => {
            details.number("size", size.map(u64::from));
            "HTTP-response-header-section-size"
        }
        E::HttpResponseHeaderSize(p) => {
            details.field_size(p);
            "HTTP-response-header-size"
        }
        E::HttpResponseBodySize(size) => {
            details.number("size", *size);
            "HTTP-response-body-size"
        }
        E::HttpResponseTrailerSectionSize(size) => {
            details.number("size", size.map(u64::from));
            "HTTP-response-trailer-section-size"
        }
        E::HttpResponseTrailerSize(p) => {
            details.field_size(p);
            "HTTP-response-trailer-size"
        }
        E::HttpResponseTransferCoding(coding) => {
            details.text("coding", coding);
            "HTTP-response-transfer-coding"
        }
        E::HttpResponseContentCoding(coding) => {
            details.text("coding", coding);
            "HTTP-response-content-coding"
        }
        E::HttpUpgradeFailed => "HTTP-upgrade-failed",
        E::HttpProtocolError => "HTTP-protocol-error",
        E::LoopDetected => "loop-detected",
        E::ConfigurationError => "configuration-error",
        E::InternalError(text) => {
            details.text("message", text);
            "internal-error"
        }
        // Each has its sentence above.
        E::DnsTimeout
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::HttpRequestDenied
        | E::HttpResponseIncomplete
        | E::HttpResponseTimeout => "",
    };
    details.after(name)
}

/// The `name value` pairs of an error code's payload, the absent ones left out.
#[derive(Default)]
struct Details(String);

impl Details {
    fn push(&mut self, name: &str, value: &str) {
        self.0.push_str(if self.0.is_empty() { " (" } else { ", " });
        self.0.push_str(name);
        self.0.push(' ');
        self.0.push_str(value);
    }

    fn text(&mut self, name: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.push(name, &bounded_text(value.as_bytes(), 200));
        }
    }

    fn number(&mut self, name: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.push(name, &value.to_string());
        }
    }

    fn field_size(&mut self, payload: &FieldSizePayload) {
        self.text("field-name", &payload.field_name);
        self.number("field-size", payload.field_size.map(u64::from));
    }

    fn after(mut self, name: &str) -> String {
        if !self.0.is_empty() {
            self.0.push(')');
        }
        self.0.insert_str(0, name);
        self.0
    }
}
