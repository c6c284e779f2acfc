//! `wasi:http/types`: fields, requests, responses, request-options,
//! response-outparam. (Bodies and trailers are in [`crate::body`], the
//! future of an outgoing request's response in [`crate::outgoing`].)
//!
//! Fields follow the spec: names and values are validated (`invalid-syntax`),
//! the [`FORBIDDEN_HEADERS`] are refused (`forbidden`) and never reach the
//! guest, fields a guest gets from a request or response are immutable
//! (`immutable`), and mutable fields are capped at the configured header
//! size (`invalid-syntax` past it, as wasmtime does not have a better case
//! either).

use std::sync::Arc;
use std::time::Duration;

use engine_abi::abi::Val;
use engine_abi::engine::HostError;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio::sync::oneshot;

use crate::body::{OutPipe, OutgoingBody, SharedIn, SharedOut};
use crate::error::ErrorCode;
use crate::handler::Body;
use crate::state::{Entry, R, State, arg, ret};

type HostResult = Result<Option<Val>, HostError>;

/// Headers a guest may not set and never sees (wasmtime's
/// `DEFAULT_FORBIDDEN_HEADERS`): hop-by-hop and connection-level fields the
/// host manages itself.
pub const FORBIDDEN_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// Whether `name` is one of the [`FORBIDDEN_HEADERS`].
pub fn is_forbidden(name: &HeaderName) -> bool {
    FORBIDDEN_HEADERS.contains(&name.as_str())
}

/// Remove the forbidden headers from `map`.
pub fn strip_forbidden(map: &mut HeaderMap) {
    for name in FORBIDDEN_HEADERS {
        map.remove(name);
    }
}

/// Why a fields operation failed: `wasi:http/types.header-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// `invalid-syntax` (also: over the size limit)
    InvalidSyntax,
    /// `forbidden`
    Forbidden,
    /// `immutable`
    Immutable,
}

impl HeaderError {
    fn to_val(self) -> Val {
        ret::case(match self {
            HeaderError::InvalidSyntax => "invalid-syntax",
            HeaderError::Forbidden => "forbidden",
            HeaderError::Immutable => "immutable",
        })
    }
}

fn entry_size(name: &HeaderName, value: &HeaderValue) -> usize {
    name.as_str().len() + value.len() + 32
}

/// `wasi:http/types.fields`: a header map, mutable or not, with a size cap.
#[derive(Clone, Debug)]
pub struct Fields {
    map: Arc<HeaderMap>,
    /// `Some(limit)` when mutable.
    limit: Option<usize>,
    size: usize,
}

impl Fields {
    /// Mutable, empty, holding at most `limit` bytes.
    pub fn mutable(limit: usize) -> Fields {
        Fields {
            map: Arc::new(HeaderMap::new()),
            limit: Some(limit),
            size: 0,
        }
    }

    /// Immutable, from `map` (which the caller already stripped if needed).
    pub fn immutable(map: HeaderMap) -> Fields {
        Fields::shared(Arc::new(map))
    }

    /// Immutable, sharing `map`.
    pub fn shared(map: Arc<HeaderMap>) -> Fields {
        Fields {
            map,
            limit: None,
            size: 0,
        }
    }

    /// The header map.
    #[cfg(test)]
    pub fn map(&self) -> &Arc<HeaderMap> {
        &self.map
    }

    /// The header map, by value.
    pub fn into_map(self) -> HeaderMap {
        Arc::unwrap_or_clone(self.map)
    }

    fn parse(name: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), HeaderError> {
        let name = parse_name(name)?;
        if is_forbidden(&name) {
            return Err(HeaderError::Forbidden);
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| HeaderError::InvalidSyntax)?;
        if name == CONTENT_LENGTH {
            let ok = value.to_str().is_ok_and(|s| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
            });
            if !ok {
                return Err(HeaderError::InvalidSyntax);
            }
        }
        Ok((name, value))
    }

    fn mutate(&mut self) -> Result<(&mut HeaderMap, usize), HeaderError> {
        match self.limit {
            None => Err(HeaderError::Immutable),
            Some(l) => Ok((Arc::make_mut(&mut self.map), l)),
        }
    }

    /// `append`
    pub fn append(&mut self, name: &str, value: &[u8]) -> Result<(), HeaderError> {
        let (name, value) = Fields::parse(name, value)?;
        let size = self.size + entry_size(&name, &value);
        let (map, limit) = self.mutate()?;
        if size > limit {
            return Err(HeaderError::InvalidSyntax);
        }
        if name == CONTENT_LENGTH && map.contains_key(&name) {
            return Err(HeaderError::InvalidSyntax);
        }
        map.append(name, value);
        self.size = size;
        Ok(())
    }

    /// `set`
    pub fn set(&mut self, name: &str, values: &[Vec<u8>]) -> Result<(), HeaderError> {
        let name = parse_name(name)?;
        if is_forbidden(&name) {
            return Err(HeaderError::Forbidden);
        }
        if name == CONTENT_LENGTH && values.len() > 1 {
            return Err(HeaderError::InvalidSyntax);
        }
        let mut parsed = Vec::with_capacity(values.len());
        for v in values {
            parsed.push(Fields::parse(name.as_str(), v)?.1);
        }
        let old: usize = self
            .map
            .get_all(&name)
            .iter()
            .map(|v| entry_size(&name, v))
            .sum();
        let new: usize = parsed.iter().map(|v| entry_size(&name, v)).sum();
        let size = self.size - old + new;
        let (map, limit) = self.mutate()?;
        if size > limit {
            return Err(HeaderError::InvalidSyntax);
        }
        map.remove(&name);
        for v in parsed {
            map.append(name.clone(), v);
        }
        self.size = size;
        Ok(())
    }

    /// `delete`, returning what was removed
    pub fn delete(&mut self, name: &str) -> Result<Vec<HeaderValue>, HeaderError> {
        let name = parse_name(name)?;
        if is_forbidden(&name) {
            return Err(HeaderError::Forbidden);
        }
        let (map, _) = self.mutate()?;
        let removed: Vec<HeaderValue> = match map.entry(&name) {
            http::header::Entry::Occupied(e) => e.remove_entry_mult().1.collect(),
            http::header::Entry::Vacant(_) => Vec::new(),
        };
        let freed: usize = removed.iter().map(|v| entry_size(&name, v)).sum();
        self.size -= freed.min(self.size);
        Ok(removed)
    }
}

fn parse_name(name: &str) -> Result<HeaderName, HeaderError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidSyntax)
}

fn header_result(s: &mut State, r: Result<(), HeaderError>) -> HostResult {
    let _ = s;
    Ok(Some(match r {
        Ok(()) => ret::ok_unit(),
        Err(e) => ret::err(e.to_val()),
    }))
}

/// A request's or response's headers handed to the guest: immutable, sharing
/// the map (not tracked as a child of its owner, as in wasmtime 48).
fn immutable_headers(s: &mut State, map: Arc<HeaderMap>) -> HostResult {
    Ok(Some(s.own(&R.fields, Entry::Fields(Fields::shared(map)))?))
}

/// `consume` of an incoming request or response: its body, once.
fn consume_body(s: &mut State, body: Option<SharedIn>) -> HostResult {
    let Some(pipe) = body else {
        return Ok(Some(ret::err_unit()));
    };
    let v = s.own(
        &R.incoming_body,
        Entry::IncomingBody(crate::body::IncomingBody {
            pipe,
            stream_taken: false,
        }),
    )?;
    Ok(Some(ret::ok(v)))
}

/// The `outgoing-body` of an outgoing request or response (`response`).
fn own_outgoing_body(s: &mut State, pipe: SharedOut, response: bool) -> HostResult {
    let v = s.own(
        &R.outgoing_body,
        Entry::OutgoingBody(OutgoingBody {
            pipe,
            stream_taken: false,
            response,
        }),
    )?;
    Ok(Some(ret::ok(v)))
}

fn values_val(values: impl Iterator<Item = Vec<u8>>) -> Val {
    Val::List(values.map(Val::Bytes).collect())
}

// ---- fields ----

/// `[constructor]fields`
pub fn fields_new(s: &mut State, _: &[Val]) -> HostResult {
    let limit = s.shared.config.max_header_bytes;
    Ok(Some(
        s.own(&R.fields, Entry::Fields(Fields::mutable(limit)))?,
    ))
}

/// `[static]fields.from-list`
pub fn fields_from_list(s: &mut State, args: &[Val]) -> HostResult {
    let mut f = Fields::mutable(s.shared.config.max_header_bytes);
    for pair in arg::list(&args[0])? {
        let Val::Tuple(kv) = pair else {
            return Err(engine_abi::Trap::host("host bug: from-list entry is not a tuple").into());
        };
        if let Err(e) = f.append(arg::string(&kv[0])?, &arg::bytes(&kv[1])?) {
            return Ok(Some(ret::err(e.to_val())));
        }
    }
    Ok(Some(ret::ok(s.own(&R.fields, Entry::Fields(f))?)))
}

/// `[method]fields.get`
pub fn fields_get(s: &mut State, args: &[Val]) -> HostResult {
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let Ok(name) = parse_name(arg::string(&args[1])?) else {
        return Ok(Some(Val::List(Vec::new())));
    };
    Ok(Some(values_val(
        f.map.get_all(&name).iter().map(|v| v.as_bytes().to_vec()),
    )))
}

/// `[method]fields.has`
pub fn fields_has(s: &mut State, args: &[Val]) -> HostResult {
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let has = parse_name(arg::string(&args[1])?).is_ok_and(|n| f.map.contains_key(&n));
    Ok(Some(Val::Bool(has)))
}

/// `[method]fields.set`
pub fn fields_set(s: &mut State, args: &[Val]) -> HostResult {
    let values: Vec<Vec<u8>> = arg::list(&args[2])?
        .iter()
        .map(arg::bytes)
        .collect::<Result<_, _>>()?;
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let r = f.set(arg::string(&args[1])?, &values);
    header_result(s, r)
}

/// `[method]fields.delete`
pub fn fields_delete(s: &mut State, args: &[Val]) -> HostResult {
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let r = f.delete(arg::string(&args[1])?).map(|_| ());
    header_result(s, r)
}

/// `[method]fields.append`
pub fn fields_append(s: &mut State, args: &[Val]) -> HostResult {
    let value = arg::bytes(&args[2])?;
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let r = f.append(arg::string(&args[1])?, &value);
    header_result(s, r)
}

/// `[method]fields.entries`
pub fn fields_entries(s: &mut State, args: &[Val]) -> HostResult {
    let f = s.table.fields(arg::rep(&args[0])?)?;
    Ok(Some(Val::List(
        f.map
            .iter()
            .map(|(k, v)| {
                Val::Tuple(vec![
                    Val::String(k.as_str().to_string()),
                    Val::Bytes(v.as_bytes().to_vec()),
                ])
            })
            .collect(),
    )))
}

/// `[method]fields.clone`: a mutable copy.
pub fn fields_clone(s: &mut State, args: &[Val]) -> HostResult {
    let limit = s.shared.config.max_header_bytes;
    let f = s.table.fields(arg::rep(&args[0])?)?;
    let mut copy = Fields::mutable(limit);
    copy.map = f.map.clone();
    copy.size = f.map.iter().map(|(k, v)| entry_size(k, v)).sum();
    Ok(Some(s.own(&R.fields, Entry::Fields(copy))?))
}

// ---- method and scheme ----

/// A method as the WIT's `method` variant.
pub fn method_to_val(m: &Method) -> Val {
    let case = match *m {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        Method::CONNECT => "connect",
        Method::OPTIONS => "options",
        Method::TRACE => "trace",
        Method::PATCH => "patch",
        _ => return Val::Variant("other".into(), Some(Box::new(Val::String(m.to_string())))),
    };
    ret::case(case)
}

/// A `method` value as an [`http::Method`]; `None` if invalid.
pub fn method_from_val(v: &Val) -> Option<Method> {
    let Val::Variant(case, payload) = v else {
        return None;
    };
    Some(match case.as_str() {
        "get" => Method::GET,
        "head" => Method::HEAD,
        "post" => Method::POST,
        "put" => Method::PUT,
        "delete" => Method::DELETE,
        "connect" => Method::CONNECT,
        "options" => Method::OPTIONS,
        "trace" => Method::TRACE,
        "patch" => Method::PATCH,
        "other" => match payload.as_deref() {
            Some(Val::String(s)) => Method::from_bytes(s.as_bytes()).ok()?,
            _ => return None,
        },
        _ => return None,
    })
}

/// A scheme: `HTTP`, `HTTPS` or another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `HTTP`
    Http,
    /// `HTTPS`
    Https,
    /// `other(s)`
    Other(String),
}

impl Scheme {
    /// As the WIT's `scheme` variant.
    pub fn to_val(&self) -> Val {
        match self {
            Scheme::Http => ret::case("HTTP"),
            Scheme::Https => ret::case("HTTPS"),
            Scheme::Other(s) => {
                Val::Variant("other".into(), Some(Box::new(Val::String(s.clone()))))
            }
        }
    }

    /// From the WIT's `scheme` variant; `None` if invalid.
    pub fn from_val(v: &Val) -> Option<Scheme> {
        match v {
            Val::Variant(c, _) if c == "HTTP" => Some(Scheme::Http),
            Val::Variant(c, _) if c == "HTTPS" => Some(Scheme::Https),
            Val::Variant(c, Some(p)) if c == "other" => match &**p {
                Val::String(s) if http::uri::Scheme::try_from(s.as_str()).is_ok() => {
                    Some(Scheme::Other(s.clone()))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The scheme as in a URI.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Other(s) => s,
        }
    }
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

/// `[method]incoming-request.method`
pub fn incoming_request_method(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.incoming_request(arg::rep(&args[0])?)?;
    Ok(Some(method_to_val(&r.method)))
}

/// `[method]incoming-request.path-with-query`
pub fn incoming_request_path_with_query(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.incoming_request(arg::rep(&args[0])?)?;
    Ok(Some(ret::opt_string(r.path_with_query.as_deref())))
}

/// `[method]incoming-request.scheme`
pub fn incoming_request_scheme(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.incoming_request(arg::rep(&args[0])?)?;
    Ok(Some(Val::Option(
        r.scheme.as_ref().map(|s| Box::new(s.to_val())),
    )))
}

/// `[method]incoming-request.authority`
pub fn incoming_request_authority(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.incoming_request(arg::rep(&args[0])?)?;
    Ok(Some(ret::opt_string(r.authority.as_deref())))
}

/// `[method]incoming-request.headers`
pub fn incoming_request_headers(s: &mut State, args: &[Val]) -> HostResult {
    let map = s
        .table
        .incoming_request(arg::rep(&args[0])?)?
        .headers
        .clone();
    immutable_headers(s, map)
}

/// `[method]incoming-request.consume`
pub fn incoming_request_consume(s: &mut State, args: &[Val]) -> HostResult {
    let body = s.table.incoming_request(arg::rep(&args[0])?)?.body.take();
    consume_body(s, body)
}

// ---- outgoing-request ----

/// `wasi:http/types.outgoing-request`
pub struct OutgoingRequest {
    /// The method (default GET).
    pub method: Method,
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

fn content_length(map: &HeaderMap) -> Option<u64> {
    map.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `[constructor]outgoing-request`
pub fn outgoing_request_new(s: &mut State, args: &[Val]) -> HostResult {
    let headers = s.table.take_fields(arg::rep(&args[0])?)?.into_map();
    let req = OutgoingRequest {
        method: Method::GET,
        scheme: None,
        authority: None,
        path_with_query: None,
        headers: Arc::new(headers),
        body: None,
    };
    Ok(Some(
        s.own(&R.outgoing_request, Entry::OutgoingRequest(req))?,
    ))
}

/// `[method]outgoing-request.body`
pub fn outgoing_request_body(s: &mut State, args: &[Val]) -> HostResult {
    let max = s.shared.config.max_body_bytes;
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    if r.body.is_some() {
        return Ok(Some(ret::err_unit()));
    }
    let pipe = OutPipe::new(
        content_length(&r.headers),
        max,
        ErrorCode::request_body_size,
    );
    r.body = Some(pipe.clone());
    own_outgoing_body(s, pipe, false)
}

/// `[method]outgoing-request.method`
pub fn outgoing_request_method(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(method_to_val(&r.method)))
}

/// `[method]outgoing-request.set-method`
pub fn outgoing_request_set_method(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(match method_from_val(&args[1]) {
        Some(m) => {
            r.method = m;
            ret::ok_unit()
        }
        None => ret::err_unit(),
    }))
}

/// `[method]outgoing-request.path-with-query`
pub fn outgoing_request_path_with_query(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(ret::opt_string(r.path_with_query.as_deref())))
}

/// `[method]outgoing-request.set-path-with-query`
pub fn outgoing_request_set_path_with_query(s: &mut State, args: &[Val]) -> HostResult {
    let v = arg::option(&args[1])?.map(arg::string).transpose()?;
    let valid = v.is_none_or(|p| http::uri::PathAndQuery::try_from(p).is_ok());
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    if !valid {
        return Ok(Some(ret::err_unit()));
    }
    r.path_with_query = v.map(str::to_string);
    Ok(Some(ret::ok_unit()))
}

/// `[method]outgoing-request.scheme`
pub fn outgoing_request_scheme(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(Val::Option(
        r.scheme.as_ref().map(|s| Box::new(s.to_val())),
    )))
}

/// `[method]outgoing-request.set-scheme`
pub fn outgoing_request_set_scheme(s: &mut State, args: &[Val]) -> HostResult {
    let v = arg::option(&args[1])?;
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(match v {
        None => {
            r.scheme = None;
            ret::ok_unit()
        }
        Some(v) => match Scheme::from_val(v) {
            Some(sc) => {
                r.scheme = Some(sc);
                ret::ok_unit()
            }
            None => ret::err_unit(),
        },
    }))
}

/// `[method]outgoing-request.authority`
pub fn outgoing_request_authority(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    Ok(Some(ret::opt_string(r.authority.as_deref())))
}

/// `[method]outgoing-request.set-authority`
pub fn outgoing_request_set_authority(s: &mut State, args: &[Val]) -> HostResult {
    let v = arg::option(&args[1])?.map(arg::string).transpose()?;
    let valid = v.is_none_or(|a| {
        http::uri::Authority::try_from(a).is_ok_and(|x| !a.is_empty() && !x.as_str().contains('@'))
    });
    let r = s.table.outgoing_request(arg::rep(&args[0])?)?;
    if !valid {
        return Ok(Some(ret::err_unit()));
    }
    r.authority = v.map(str::to_string);
    Ok(Some(ret::ok_unit()))
}

/// `[method]outgoing-request.headers`
pub fn outgoing_request_headers(s: &mut State, args: &[Val]) -> HostResult {
    let map = s
        .table
        .outgoing_request(arg::rep(&args[0])?)?
        .headers
        .clone();
    immutable_headers(s, map)
}

// ---- request-options ----

/// `wasi:http/types.request-options`: timeouts of an outgoing request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOptions {
    /// Connecting (TCP and TLS).
    pub connect_timeout: Option<Duration>,
    /// From sending the request to the response head.
    pub first_byte_timeout: Option<Duration>,
    /// Between body chunks of the response.
    pub between_bytes_timeout: Option<Duration>,
}

/// `[constructor]request-options`
pub fn request_options_new(s: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(s.own(
        &R.request_options,
        Entry::RequestOptions(RequestOptions::default()),
    )?))
}

fn duration_val(d: Option<Duration>) -> Val {
    Val::Option(d.map(|d| Box::new(Val::U64(d.as_nanos().min(u64::MAX as u128) as u64))))
}

fn option_get(
    s: &mut State,
    args: &[Val],
    f: fn(&RequestOptions) -> Option<Duration>,
) -> HostResult {
    let o = s.table.request_options(arg::rep(&args[0])?)?;
    Ok(Some(duration_val(f(o))))
}

fn option_set(
    s: &mut State,
    args: &[Val],
    f: fn(&mut RequestOptions) -> &mut Option<Duration>,
) -> HostResult {
    let d = arg::option(&args[1])?.map(arg::u64).transpose()?;
    let o = s.table.request_options(arg::rep(&args[0])?)?;
    *f(o) = d.map(Duration::from_nanos);
    Ok(Some(ret::ok_unit()))
}

/// `[method]request-options.connect-timeout`
pub fn request_options_connect_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_get(s, args, |o| o.connect_timeout)
}
/// `[method]request-options.set-connect-timeout`
pub fn request_options_set_connect_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_set(s, args, |o| &mut o.connect_timeout)
}
/// `[method]request-options.first-byte-timeout`
pub fn request_options_first_byte_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_get(s, args, |o| o.first_byte_timeout)
}
/// `[method]request-options.set-first-byte-timeout`
pub fn request_options_set_first_byte_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_set(s, args, |o| &mut o.first_byte_timeout)
}
/// `[method]request-options.between-bytes-timeout`
pub fn request_options_between_bytes_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_get(s, args, |o| o.between_bytes_timeout)
}
/// `[method]request-options.set-between-bytes-timeout`
pub fn request_options_set_between_bytes_timeout(s: &mut State, args: &[Val]) -> HostResult {
    option_set(s, args, |o| &mut o.between_bytes_timeout)
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

/// `[constructor]outgoing-response`
pub fn outgoing_response_new(s: &mut State, args: &[Val]) -> HostResult {
    let headers = s.table.take_fields(arg::rep(&args[0])?)?.into_map();
    let resp = OutgoingResponse {
        status: 200,
        headers: Arc::new(headers),
        body: None,
    };
    Ok(Some(s.own(
        &R.outgoing_response,
        Entry::OutgoingResponse(resp),
    )?))
}

/// `[method]outgoing-response.status-code`
pub fn outgoing_response_status_code(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.outgoing_response(arg::rep(&args[0])?)?;
    Ok(Some(Val::U16(r.status)))
}

/// `[method]outgoing-response.set-status-code`
pub fn outgoing_response_set_status_code(s: &mut State, args: &[Val]) -> HostResult {
    let code = arg::u16(&args[1])?;
    let r = s.table.outgoing_response(arg::rep(&args[0])?)?;
    Ok(Some(if (100..=999).contains(&code) {
        r.status = code;
        ret::ok_unit()
    } else {
        ret::err_unit()
    }))
}

/// `[method]outgoing-response.headers`: an immutable child.
pub fn outgoing_response_headers(s: &mut State, args: &[Val]) -> HostResult {
    let map = s
        .table
        .outgoing_response(arg::rep(&args[0])?)?
        .headers
        .clone();
    immutable_headers(s, map)
}

/// `[method]outgoing-response.body`
pub fn outgoing_response_body(s: &mut State, args: &[Val]) -> HostResult {
    let max = s.shared.config.max_body_bytes;
    let r = s.table.outgoing_response(arg::rep(&args[0])?)?;
    if r.body.is_some() {
        return Ok(Some(ret::err_unit()));
    }
    let pipe = OutPipe::new(
        content_length(&r.headers),
        max,
        ErrorCode::response_body_size,
    );
    r.body = Some(pipe.clone());
    own_outgoing_body(s, pipe, true)
}

// ---- response-outparam ----

/// The response a guest sets, or the error-code it gives instead.
pub type ResponseResult = Result<http::Response<Body>, ErrorCode>;

/// `wasi:http/types.response-outparam`
pub struct ResponseOutparam {
    /// Where the response goes.
    pub tx: Option<oneshot::Sender<ResponseResult>>,
}

/// `[static]response-outparam.set`
pub fn response_outparam_set(s: &mut State, args: &[Val]) -> HostResult {
    let mut param = s.table.take_response_outparam(arg::rep(&args[0])?)?;
    let result = match &args[1] {
        Val::Result(Ok(Some(resp))) => {
            let r = s.table.take_outgoing_response(arg::rep(resp)?)?;
            let pipe = r.body.unwrap_or_else(OutPipe::empty);
            let mut builder = http::Response::builder().status(r.status);
            if let Some(h) = builder.headers_mut() {
                *h = Arc::unwrap_or_clone(r.headers);
            }
            builder
                .body(Body::pipe(pipe))
                .map_err(|e| ErrorCode::internal(e.to_string()))
        }
        Val::Result(Err(Some(code))) => Err(ErrorCode::from_val(code)),
        other => {
            return Err(
                engine_abi::Trap::host(format!("host bug: outparam.set with {other:?}")).into(),
            );
        }
    };
    s.response_set = true;
    if let Some(tx) = param.tx.take() {
        let _ = tx.send(result);
    }
    Ok(None)
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

/// `[method]incoming-response.status`
pub fn incoming_response_status(s: &mut State, args: &[Val]) -> HostResult {
    let r = s.table.incoming_response(arg::rep(&args[0])?)?;
    Ok(Some(Val::U16(r.status)))
}

/// `[method]incoming-response.headers`
pub fn incoming_response_headers(s: &mut State, args: &[Val]) -> HostResult {
    let map = s
        .table
        .incoming_response(arg::rep(&args[0])?)?
        .headers
        .clone();
    immutable_headers(s, map)
}

/// `[method]incoming-response.consume`
pub fn incoming_response_consume(s: &mut State, args: &[Val]) -> HostResult {
    let body = s.table.incoming_response(arg::rep(&args[0])?)?.body.take();
    consume_body(s, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_rules() {
        let mut f = Fields::mutable(1000);
        assert_eq!(f.append("content-type", b"text/plain"), Ok(()));
        assert_eq!(f.append("Bad Name", b"x"), Err(HeaderError::InvalidSyntax));
        assert_eq!(
            f.append("x", b"bad\nvalue"),
            Err(HeaderError::InvalidSyntax)
        );
        assert_eq!(
            f.append("host", b"example.com"),
            Err(HeaderError::Forbidden)
        );
        assert_eq!(
            f.append("Connection", b"close"),
            Err(HeaderError::Forbidden)
        );
        assert_eq!(
            f.append("content-length", b"+5"),
            Err(HeaderError::InvalidSyntax)
        );
        assert_eq!(f.append("content-length", b"5"), Ok(()));
        assert_eq!(
            f.append("content-length", b"6"),
            Err(HeaderError::InvalidSyntax)
        );
        assert_eq!(f.set("x-a", &[b"1".to_vec(), b"2".to_vec()]), Ok(()));
        assert_eq!(f.map().get_all("x-a").iter().count(), 2);
        assert_eq!(f.delete("x-a").unwrap().len(), 2);
        let mut i = Fields::immutable(HeaderMap::new());
        assert_eq!(i.append("x", b"y"), Err(HeaderError::Immutable));
        assert_eq!(i.set("x", &[]), Err(HeaderError::Immutable));
        assert_eq!(i.delete("x"), Err(HeaderError::Immutable));
    }

    #[test]
    fn fields_size_limit() {
        let mut f = Fields::mutable(200);
        let mut n = 0;
        while f.append("x-long", b"0123456789").is_ok() {
            n += 1;
            assert!(n < 100);
        }
        assert!(n > 0);
        assert_eq!(f.append("x-long", b"1"), Err(HeaderError::InvalidSyntax));
        f.delete("x-long").unwrap();
        assert_eq!(f.append("x-long", b"1"), Ok(()));
    }
}
