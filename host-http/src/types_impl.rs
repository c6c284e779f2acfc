//! `wasi:http/types`: requests, responses, request-options,
//! response-outparam, the `method` and `scheme` variants, and
//! `http-error-code`. (Fields are in [`crate::fields`], bodies and trailers
//! in [`crate::body`], the future of an outgoing request's response in
//! [`crate::outgoing`].)

use std::sync::Arc;
use std::time::Duration;

use engine_abi::Trap;
use engine_abi::abi::typed::{self, Borrow, Own, VariantType};
use engine_abi::abi::{AbiContext, ComponentType, Lift, Lower, StaticLayout};
use engine_abi::engine::{CoreVal, HostError};
use engine_abi::types::{Type, Variant};
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use tokio::sync::oneshot;

use crate::body::{IncomingBody, OutgoingBody};
use crate::client::Timeouts;
use crate::error::ErrorCode;
use crate::fields::{Fields, immutable_headers};
use crate::io::IoError;
use crate::pipe::{OutPipe, PipeBody, SharedIn, SharedOut};
use crate::state::State;
use crate::wit::Registry;

const HTTP: &str = "wasi:http/types";

// ---- method and scheme ----

/// `wasi:http/types.method` (the discriminants are the WIT's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `get`
    Get,
    /// `head`
    Head,
    /// `post`
    Post,
    /// `put`
    Put,
    /// `delete`
    Delete,
    /// `connect`
    Connect,
    /// `options`
    Options,
    /// `trace`
    Trace,
    /// `patch`
    Patch,
    /// `other(name)`, not checked until it is used.
    Other(String),
}

/// The cases of `method` without payload, by discriminant.
const METHODS: [(Method, &str, http::Method); 9] = [
    (Method::Get, "get", http::Method::GET),
    (Method::Head, "head", http::Method::HEAD),
    (Method::Post, "post", http::Method::POST),
    (Method::Put, "put", http::Method::PUT),
    (Method::Delete, "delete", http::Method::DELETE),
    (Method::Connect, "connect", http::Method::CONNECT),
    (Method::Options, "options", http::Method::OPTIONS),
    (Method::Trace, "trace", http::Method::TRACE),
    (Method::Patch, "patch", http::Method::PATCH),
];

impl Method {
    fn discriminant(&self) -> u32 {
        match self {
            Method::Other(_) => METHODS.len() as u32,
            m => (0..)
                .zip(&METHODS)
                .find_map(|(i, (c, _, _))| (c == m).then_some(i))
                .unwrap_or_default(),
        }
    }

    /// The WIT's name of the case.
    #[cfg(test)]
    pub fn case(&self) -> &'static str {
        METHODS
            .get(self.discriminant() as usize)
            .map_or("other", |(_, name, _)| name)
    }

    /// As the WIT's `method`.
    pub fn from_http(m: &http::Method) -> Method {
        METHODS
            .iter()
            .find(|(_, _, h)| h == m)
            .map_or_else(|| Method::Other(m.to_string()), |(c, _, _)| c.clone())
    }

    /// As an [`http::Method`]; `None` for an `other` that is not a valid
    /// method name.
    pub fn to_http(&self) -> Option<http::Method> {
        match self {
            Method::Other(s) => http::Method::from_bytes(s.as_bytes()).ok(),
            m => METHODS
                .get(m.discriminant() as usize)
                .map(|(_, _, h)| h.clone()),
        }
    }
}

impl ComponentType for Method {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(String::LAYOUT),
    ]);
    fn ty() -> Type {
        let mut cases: Vec<(&str, Option<Type>)> =
            METHODS.iter().map(|(_, name, _)| (*name, None)).collect();
        cases.push(("other", Some(String::ty())));
        Type::Variant(Variant::new(cases))
    }
}

impl VariantType for Method {
    const CASES: u32 = METHODS.len() as u32 + 1;
    const NAME: &'static str = "method";
}

impl Lower for Method {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        match self {
            Method::Other(s) => typed::lower_variant_flat::<Self, _, _>(cx, 9, s, dst),
            m => typed::lower_variant_flat::<Self, _, _>(cx, m.discriminant(), &(), dst),
        }
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        match self {
            Method::Other(s) => typed::store_variant::<Self, _, _>(cx, 9, s, ptr),
            m => typed::store_variant::<Self, _, _>(cx, m.discriminant(), &(), ptr),
        }
    }
}

impl Lift for Method {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let case = typed::lift_variant_flat::<Self, _>(src)?;
        match METHODS.get(case.discriminant() as usize) {
            Some((m, _, _)) => case.payload::<(), _>(cx).map(|()| m.clone()),
            None => case.payload(cx).map(Method::Other),
        }
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let case = typed::load_variant::<Self, _>(cx, ptr)?;
        match METHODS.get(case.discriminant() as usize) {
            Some((m, _, _)) => Ok(m.clone()),
            None => case.payload(cx).map(Method::Other),
        }
    }
}

/// `wasi:http/types.scheme`: `HTTP`, `HTTPS` or another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `HTTP`
    Http,
    /// `HTTPS`
    Https,
    /// `other(s)`, not checked until it is used.
    Other(String),
}

impl Scheme {
    /// The scheme as in a URI.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Other(s) => s,
        }
    }

    /// The WIT's name of the case.
    #[cfg(test)]
    pub fn case(&self) -> &'static str {
        match self {
            Scheme::Http => "HTTP",
            Scheme::Https => "HTTPS",
            Scheme::Other(_) => "other",
        }
    }

    /// Whether a guest may set it: `other` must be a valid URI scheme.
    fn is_valid(&self) -> bool {
        match self {
            Scheme::Other(s) => http::uri::Scheme::try_from(s.as_str()).is_ok(),
            _ => true,
        }
    }
}

impl ComponentType for Scheme {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[None, None, Some(String::LAYOUT)]);
    fn ty() -> Type {
        Type::Variant(Variant::new([
            ("HTTP", None),
            ("HTTPS", None),
            ("other", Some(String::ty())),
        ]))
    }
}

impl VariantType for Scheme {
    const CASES: u32 = 3;
    const NAME: &'static str = "scheme";
}

impl Lower for Scheme {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        match self {
            Scheme::Http => typed::lower_variant_flat::<Self, _, _>(cx, 0, &(), dst),
            Scheme::Https => typed::lower_variant_flat::<Self, _, _>(cx, 1, &(), dst),
            Scheme::Other(s) => typed::lower_variant_flat::<Self, _, _>(cx, 2, s, dst),
        }
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        match self {
            Scheme::Http => typed::store_variant::<Self, _, _>(cx, 0, &(), ptr),
            Scheme::Https => typed::store_variant::<Self, _, _>(cx, 1, &(), ptr),
            Scheme::Other(s) => typed::store_variant::<Self, _, _>(cx, 2, s, ptr),
        }
    }
}

impl Lift for Scheme {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let case = typed::lift_variant_flat::<Self, _>(src)?;
        match case.discriminant() {
            0 => case.payload::<(), _>(cx).map(|()| Scheme::Http),
            1 => case.payload::<(), _>(cx).map(|()| Scheme::Https),
            _ => case.payload(cx).map(Scheme::Other),
        }
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let case = typed::load_variant::<Self, _>(cx, ptr)?;
        match case.discriminant() {
            0 => Ok(Scheme::Http),
            1 => Ok(Scheme::Https),
            _ => case.payload(cx).map(Scheme::Other),
        }
    }
}

/// The `consume` of an incoming request or response: its body, once.
fn consume_body(
    s: &mut State,
    body: Option<SharedIn>,
) -> Result<Result<Own<IncomingBody>, ()>, HostError> {
    match body {
        Some(pipe) => Ok(Ok(s.own(IncomingBody::new(pipe))?)),
        None => Ok(Err(())),
    }
}

fn content_length(map: &HeaderMap) -> Option<u64> {
    map.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// What the `body` of an outgoing request or response gives, once.
type BodyResult = Result<Result<Own<OutgoingBody>, ()>, HostError>;

/// A new pipe for the body of an outgoing request or response, checking
/// the declared length and the size limit.
fn body_pipe(max: u64, headers: &HeaderMap, response: bool) -> SharedOut {
    let too_big = if response {
        ErrorCode::response_body_size
    } else {
        ErrorCode::request_body_size
    };
    OutPipe::new(content_length(headers), max, too_big)
}

/// `[method]outgoing-request.body`
fn request_body(s: &mut State, (q,): (Borrow<OutgoingRequest>,)) -> BodyResult {
    let max = s.shared.config.max_body_bytes;
    let r = outgoing_request(s, &q)?;
    if r.body.is_some() {
        return Ok(Err(()));
    }
    let pipe = body_pipe(max, &r.headers, false);
    r.body = Some(pipe.clone());
    Ok(Ok(s.own(OutgoingBody::new(pipe, false))?))
}

/// `[method]outgoing-response.body`
fn response_body(s: &mut State, (q,): (Borrow<OutgoingResponse>,)) -> BodyResult {
    let max = s.shared.config.max_body_bytes;
    let r = outgoing_response(s, &q)?;
    if r.body.is_some() {
        return Ok(Err(()));
    }
    let pipe = body_pipe(max, &r.headers, true);
    r.body = Some(pipe.clone());
    Ok(Ok(s.own(OutgoingBody::new(pipe, true))?))
}

// ---- incoming-request ----

/// `wasi:http/types.incoming-request`
pub struct IncomingRequest {
    /// The method.
    pub method: Method,
    /// Path and query, e.g. `/a?b=c`.
    pub path_with_query: Option<String>,
    /// The scheme.
    pub scheme: Option<Scheme>,
    /// The authority (from the URI or the `host` header).
    pub authority: Option<String>,
    /// The headers, forbidden ones removed.
    pub headers: Arc<HeaderMap>,
    /// The body, until `consume`d.
    pub body: Option<SharedIn>,
}
wit_resource!(
    IncomingRequest,
    "wasi:http/types@0.2.12",
    "incoming-request"
);

fn incoming_request<'s>(
    s: &'s mut State,
    r: &Borrow<IncomingRequest>,
) -> Result<&'s mut IncomingRequest, Trap> {
    s.table.get_mut(r.rep())
}

// ---- outgoing-request ----

/// `wasi:http/types.outgoing-request`
pub struct OutgoingRequest {
    /// The method (default GET).
    pub method: http::Method,
    /// The scheme.
    pub scheme: Option<Scheme>,
    /// The authority.
    pub authority: Option<String>,
    /// Path and query.
    pub path_with_query: Option<String>,
    /// The headers (from the constructor; immutable to the guest after).
    pub headers: Arc<HeaderMap>,
    /// The body pipe, created by `body`.
    pub body: Option<SharedOut>,
}
wit_resource!(
    OutgoingRequest,
    "wasi:http/types@0.2.12",
    "outgoing-request"
);

fn outgoing_request<'s>(
    s: &'s mut State,
    r: &Borrow<OutgoingRequest>,
) -> Result<&'s mut OutgoingRequest, Trap> {
    s.table.get_mut(r.rep())
}

/// `result` with no payloads, as the setters return it.
type Unit = Result<Result<(), ()>, HostError>;

fn set_if(valid: bool, set: impl FnOnce()) -> Result<(), ()> {
    if valid {
        set();
        Ok(())
    } else {
        Err(())
    }
}

/// `[constructor]outgoing-request`
fn outgoing_request_new(
    s: &mut State,
    (headers,): (Own<Fields>,),
) -> Result<Own<OutgoingRequest>, HostError> {
    let headers = s.table.take::<Fields>(headers.rep())?.into_map();
    Ok(s.own(OutgoingRequest {
        method: http::Method::GET,
        scheme: None,
        authority: None,
        path_with_query: None,
        headers: Arc::new(headers),
        body: None,
    })?)
}

/// `[method]outgoing-request.set-path-with-query`
fn set_path_with_query(
    s: &mut State,
    (r, path): (Borrow<OutgoingRequest>, Option<String>),
) -> Unit {
    let valid = path
        .as_deref()
        .is_none_or(|p| http::uri::PathAndQuery::try_from(p).is_ok());
    let r = outgoing_request(s, &r)?;
    Ok(set_if(valid, || r.path_with_query = path))
}

/// `[method]outgoing-request.set-authority`
fn set_authority(s: &mut State, (r, authority): (Borrow<OutgoingRequest>, Option<String>)) -> Unit {
    let valid = authority.as_deref().is_none_or(|a| {
        http::uri::Authority::try_from(a).is_ok_and(|x| !a.is_empty() && !x.as_str().contains('@'))
    });
    let r = outgoing_request(s, &r)?;
    Ok(set_if(valid, || r.authority = authority))
}

// ---- request-options ----

/// `wasi:http/types.request-options`: timeouts of an outgoing request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOptions(pub Timeouts);
wit_resource!(RequestOptions, "wasi:http/types@0.2.12", "request-options");

fn nanos(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
}

/// Register the getter and setter of one timeout of `request-options`.
fn register_timeout(
    r: &mut Registry<'_>,
    name: &str,
    field: fn(&mut Timeouts) -> &mut Option<Duration>,
) {
    r.typed(
        HTTP,
        &format!("[method]request-options.{name}"),
        move |s, (o,): (Borrow<RequestOptions>,)| {
            let o = s.table.get_mut::<RequestOptions>(o.rep())?;
            Ok(nanos(*field(&mut o.0)))
        },
    );
    r.typed(
        HTTP,
        &format!("[method]request-options.set-{name}"),
        move |s, (o, d): (Borrow<RequestOptions>, Option<u64>)| -> Unit {
            let o = s.table.get_mut::<RequestOptions>(o.rep())?;
            *field(&mut o.0) = d.map(Duration::from_nanos);
            Ok(Ok(()))
        },
    );
}

// ---- outgoing-response ----

/// `wasi:http/types.outgoing-response`
pub struct OutgoingResponse {
    /// The status (default 200).
    pub status: u16,
    /// The headers.
    pub headers: Arc<HeaderMap>,
    /// The body pipe, created by `body`.
    pub body: Option<SharedOut>,
}
wit_resource!(
    OutgoingResponse,
    "wasi:http/types@0.2.12",
    "outgoing-response"
);

fn outgoing_response<'s>(
    s: &'s mut State,
    r: &Borrow<OutgoingResponse>,
) -> Result<&'s mut OutgoingResponse, Trap> {
    s.table.get_mut(r.rep())
}

/// `[constructor]outgoing-response`
fn outgoing_response_new(
    s: &mut State,
    (headers,): (Own<Fields>,),
) -> Result<Own<OutgoingResponse>, HostError> {
    let headers = s.table.take::<Fields>(headers.rep())?.into_map();
    Ok(s.own(OutgoingResponse {
        status: 200,
        headers: Arc::new(headers),
        body: None,
    })?)
}

// ---- response-outparam ----

/// The response a guest sets (its body still streaming from the guest), or
/// the error-code it gives instead.
pub type ResponseResult = Result<http::Response<PipeBody>, ErrorCode>;

/// `wasi:http/types.response-outparam`
pub struct ResponseOutparam {
    /// Where the response goes.
    pub tx: Option<oneshot::Sender<ResponseResult>>,
}
wit_resource!(
    ResponseOutparam,
    "wasi:http/types@0.2.12",
    "response-outparam"
);

/// `[static]response-outparam.set`
fn response_outparam_set(
    s: &mut State,
    (param, response): (
        Own<ResponseOutparam>,
        Result<Own<OutgoingResponse>, ErrorCode>,
    ),
) -> Result<(), HostError> {
    let mut param = s.table.take::<ResponseOutparam>(param.rep())?;
    let result = match response {
        Ok(resp) => {
            let r = s.table.take::<OutgoingResponse>(resp.rep())?;
            let pipe = r.body.unwrap_or_else(OutPipe::empty);
            let mut builder = http::Response::builder().status(r.status);
            if let Some(h) = builder.headers_mut() {
                *h = Arc::unwrap_or_clone(r.headers);
            }
            builder
                .body(PipeBody(pipe))
                .map_err(|e| ErrorCode::internal(e.to_string()))
        }
        Err(code) => Err(code),
    };
    s.response_set = true;
    if let Some(tx) = param.tx.take() {
        let _ = tx.send(result);
    }
    Ok(())
}

// ---- incoming-response ----

/// `wasi:http/types.incoming-response`
pub struct IncomingResponse {
    /// The status.
    pub status: u16,
    /// The headers (forbidden ones removed).
    pub headers: Arc<HeaderMap>,
    /// The body, until `consume`d.
    pub body: Option<SharedIn>,
}
wit_resource!(
    IncomingResponse,
    "wasi:http/types@0.2.12",
    "incoming-response"
);

fn incoming_response<'s>(
    s: &'s mut State,
    r: &Borrow<IncomingResponse>,
) -> Result<&'s mut IncomingResponse, Trap> {
    s.table.get_mut(r.rep())
}

/// Register `wasi:http/types`' requests, responses, request-options,
/// response-outparam and `http-error-code`.
pub fn register(r: &mut Registry<'_>) {
    r.resource::<IncomingRequest>();
    r.resource::<OutgoingRequest>();
    r.resource::<RequestOptions>();
    r.resource::<ResponseOutparam>();
    r.resource::<IncomingResponse>();
    r.resource::<OutgoingResponse>();

    type Req = (Borrow<IncomingRequest>,);
    r.typed(HTTP, "[method]incoming-request.method", |s, (q,): Req| {
        Ok(incoming_request(s, &q)?.method.clone())
    });
    r.typed(
        HTTP,
        "[method]incoming-request.path-with-query",
        |s, (q,): Req| Ok(incoming_request(s, &q)?.path_with_query.clone()),
    );
    r.typed(HTTP, "[method]incoming-request.scheme", |s, (q,): Req| {
        Ok(incoming_request(s, &q)?.scheme.clone())
    });
    r.typed(
        HTTP,
        "[method]incoming-request.authority",
        |s, (q,): Req| Ok(incoming_request(s, &q)?.authority.clone()),
    );
    r.typed(HTTP, "[method]incoming-request.headers", |s, (q,): Req| {
        let map = incoming_request(s, &q)?.headers.clone();
        immutable_headers(s, map)
    });
    r.typed(HTTP, "[method]incoming-request.consume", |s, (q,): Req| {
        let body = incoming_request(s, &q)?.body.take();
        consume_body(s, body)
    });

    type OutReq = (Borrow<OutgoingRequest>,);
    r.typed(HTTP, "[constructor]outgoing-request", outgoing_request_new);
    r.typed(HTTP, "[method]outgoing-request.body", request_body);
    r.typed(
        HTTP,
        "[method]outgoing-request.method",
        |s, (q,): OutReq| Ok(Method::from_http(&outgoing_request(s, &q)?.method)),
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.set-method",
        |s, (q, m): (Borrow<OutgoingRequest>, Method)| -> Unit {
            let r = outgoing_request(s, &q)?;
            Ok(match m.to_http() {
                Some(m) => {
                    r.method = m;
                    Ok(())
                }
                None => Err(()),
            })
        },
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.path-with-query",
        |s, (q,): OutReq| Ok(outgoing_request(s, &q)?.path_with_query.clone()),
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.set-path-with-query",
        set_path_with_query,
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.scheme",
        |s, (q,): OutReq| Ok(outgoing_request(s, &q)?.scheme.clone()),
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.set-scheme",
        |s, (q, scheme): (Borrow<OutgoingRequest>, Option<Scheme>)| -> Unit {
            let valid = scheme.as_ref().is_none_or(Scheme::is_valid);
            let r = outgoing_request(s, &q)?;
            Ok(set_if(valid, || r.scheme = scheme))
        },
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.authority",
        |s, (q,): OutReq| Ok(outgoing_request(s, &q)?.authority.clone()),
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.set-authority",
        set_authority,
    );
    r.typed(
        HTTP,
        "[method]outgoing-request.headers",
        |s, (q,): OutReq| {
            let map = outgoing_request(s, &q)?.headers.clone();
            immutable_headers(s, map)
        },
    );

    r.typed(HTTP, "[constructor]request-options", |s, (): ()| {
        Ok(s.own(RequestOptions::default())?)
    });
    register_timeout(r, "connect-timeout", |t| &mut t.connect);
    register_timeout(r, "first-byte-timeout", |t| &mut t.first_byte);
    register_timeout(r, "between-bytes-timeout", |t| &mut t.between_bytes);

    r.typed(HTTP, "[static]response-outparam.set", response_outparam_set);

    type InResp = (Borrow<IncomingResponse>,);
    r.typed(
        HTTP,
        "[method]incoming-response.status",
        |s, (q,): InResp| Ok(incoming_response(s, &q)?.status),
    );
    r.typed(
        HTTP,
        "[method]incoming-response.headers",
        |s, (q,): InResp| {
            let map = incoming_response(s, &q)?.headers.clone();
            immutable_headers(s, map)
        },
    );
    r.typed(
        HTTP,
        "[method]incoming-response.consume",
        |s, (q,): InResp| {
            let body = incoming_response(s, &q)?.body.take();
            consume_body(s, body)
        },
    );

    type OutResp = (Borrow<OutgoingResponse>,);
    r.typed(
        HTTP,
        "[constructor]outgoing-response",
        outgoing_response_new,
    );
    r.typed(
        HTTP,
        "[method]outgoing-response.status-code",
        |s, (q,): OutResp| Ok(outgoing_response(s, &q)?.status),
    );
    r.typed(
        HTTP,
        "[method]outgoing-response.set-status-code",
        |s, (q, code): (Borrow<OutgoingResponse>, u16)| -> Unit {
            let r = outgoing_response(s, &q)?;
            Ok(set_if((100..=999).contains(&code), || r.status = code))
        },
    );
    r.typed(
        HTTP,
        "[method]outgoing-response.headers",
        |s, (q,): OutResp| {
            let map = outgoing_response(s, &q)?.headers.clone();
            immutable_headers(s, map)
        },
    );
    r.typed(HTTP, "[method]outgoing-response.body", response_body);

    r.typed(
        HTTP,
        "http-error-code",
        |s, (e,): (Borrow<IoError>,)| -> Result<Option<ErrorCode>, HostError> {
            Ok(s.table.get::<IoError>(e.rep())?.code.clone())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcx::{check_against_dynamic, check_labels, wit_type};
    use engine_abi::abi::Val;

    fn methods() -> Vec<Method> {
        let mut all: Vec<Method> = METHODS.iter().map(|(m, _, _)| m.clone()).collect();
        all.extend([Method::Other("PURGE".into()), Method::Other(String::new())]);
        all
    }

    fn val(case: &str, payload: Option<&str>) -> Val {
        Val::Variant(
            case.into(),
            payload.map(|s| Box::new(Val::String(s.into()))),
        )
    }

    #[test]
    fn method_is_the_wits() {
        assert_eq!(Method::ty(), wit_type(HTTP, "method"));
        check_labels(&methods(), Method::case);
        for m in methods() {
            let payload = match &m {
                Method::Other(s) => Some(s.as_str()),
                _ => None,
            };
            check_against_dynamic(&m, &val(m.case(), payload));
        }
    }

    #[test]
    fn methods_map_to_http() {
        for m in methods()
            .into_iter()
            .filter(|m| !matches!(m, Method::Other(_)))
        {
            let h = m.to_http().unwrap();
            assert_eq!(Method::from_http(&h), m);
            assert_eq!(h.as_str().to_ascii_lowercase(), m.case());
        }
        let purge = Method::Other("PURGE".into());
        assert_eq!(Method::from_http(&purge.to_http().unwrap()), purge);
        assert_eq!(Method::Other("bad method".into()).to_http(), None);
    }

    #[test]
    fn scheme_is_the_wits() {
        assert_eq!(Scheme::ty(), wit_type(HTTP, "scheme"));
        let all = [
            Scheme::Http,
            Scheme::Https,
            Scheme::Other("ftp".into()),
            Scheme::Other("not a scheme".into()),
        ];
        check_labels(&all, Scheme::case);
        for s in &all {
            let payload = match s {
                Scheme::Other(o) => Some(o.as_str()),
                _ => None,
            };
            check_against_dynamic(s, &val(s.case(), payload));
            check_against_dynamic(
                &Some(s.clone()),
                &Val::Option(Some(Box::new(val(s.case(), payload)))),
            );
        }
        assert!(all[2].is_valid());
        assert!(!all[3].is_valid());
    }
}
