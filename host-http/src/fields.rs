//! `wasi:http/types.fields` (`headers` and `trailers` too): header maps
//! with the spec's rules. Names and values are validated
//! (`invalid-syntax`), the [`FORBIDDEN_HEADERS`] are refused (`forbidden`)
//! and never reach the guest, fields a guest gets from a request or response
//! are immutable (`immutable`), and mutable fields are capped at the
//! configured header size (`invalid-syntax` past it, as wasmtime does not
//! have a better case either).

use std::sync::Arc;

use engine_abi::Trap;
use engine_abi::abi::typed::{self, Borrow, Own, VariantType};
use engine_abi::abi::{AbiContext, ComponentType, Lower, StaticLayout};
use engine_abi::engine::{CoreVal, HostError};
use engine_abi::types::{Type, Variant};
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};

use crate::state::State;
use crate::wit::Registry;

const HTTP: &str = "wasi:http/types";

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
    static NAMES: std::sync::LazyLock<Vec<HeaderName>> = std::sync::LazyLock::new(|| {
        FORBIDDEN_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect()
    });
    // Most requests have none: look before removing (each removal hashes
    // its name).
    if map.keys().any(|k| NAMES.contains(k)) {
        for name in NAMES.iter() {
            map.remove(name);
        }
    }
}

/// Why a fields operation failed: `wasi:http/types.header-error` (the
/// discriminants are the WIT's).
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
    /// The WIT's name of the case.
    pub fn case(self) -> &'static str {
        match self {
            HeaderError::InvalidSyntax => "invalid-syntax",
            HeaderError::Forbidden => "forbidden",
            HeaderError::Immutable => "immutable",
        }
    }

    fn discriminant(self) -> u32 {
        self as u32
    }
}

impl ComponentType for HeaderError {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[None, None, None]);
    fn ty() -> Type {
        Type::Variant(Variant::new(
            [
                HeaderError::InvalidSyntax,
                HeaderError::Forbidden,
                HeaderError::Immutable,
            ]
            .map(|e| (e.case(), None)),
        ))
    }
}

impl VariantType for HeaderError {
    const CASES: u32 = 3;
    const NAME: &'static str = "header-error";
}

impl Lower for HeaderError {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        typed::lower_variant_flat::<Self, _, _>(cx, self.discriminant(), &(), dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        typed::store_variant::<Self, _, _>(cx, self.discriminant(), &(), ptr)
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

    /// A mutable copy, holding at most `limit` bytes.
    pub fn mutable_copy(&self, limit: usize) -> Fields {
        Fields {
            map: self.map.clone(),
            limit: Some(limit),
            size: self.map.iter().map(|(k, v)| entry_size(k, v)).sum(),
        }
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

wit_resource!(Fields, "wasi:http/types@0.2.12", "fields");

/// Headers handed to the guest: immutable, sharing `map` (not tracked as a
/// child of their owner, as in wasmtime 48).
pub fn immutable_headers(s: &mut State, map: Arc<HeaderMap>) -> Result<Own<Fields>, HostError> {
    Ok(s.own(Fields::shared(map))?)
}

fn fields_mut<'s>(s: &'s mut State, f: &Borrow<Fields>) -> Result<&'s mut Fields, Trap> {
    s.table.get_mut::<Fields>(f.rep())
}

/// `[static]fields.from-list`
fn from_list(
    s: &mut State,
    (entries,): (Vec<(String, Vec<u8>)>,),
) -> Result<Result<Own<Fields>, HeaderError>, HostError> {
    let mut f = Fields::mutable(s.shared.config.max_header_bytes);
    for (name, value) in &entries {
        if let Err(e) = f.append(name, value) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(s.own(f)?))
}

/// `[method]fields.get`
fn get(s: &mut State, (f, name): (Borrow<Fields>, String)) -> Result<Vec<Vec<u8>>, HostError> {
    let f = s.table.get::<Fields>(f.rep())?;
    let Ok(name) = parse_name(&name) else {
        return Ok(Vec::new());
    };
    Ok(f.map
        .get_all(&name)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect())
}

/// `[method]fields.has`
fn has(s: &mut State, (f, name): (Borrow<Fields>, String)) -> Result<bool, HostError> {
    let f = s.table.get::<Fields>(f.rep())?;
    Ok(parse_name(&name).is_ok_and(|n| f.map.contains_key(&n)))
}

/// `[method]fields.entries`
fn entries(s: &mut State, (f,): (Borrow<Fields>,)) -> Result<Vec<(String, Vec<u8>)>, HostError> {
    let f = s.table.get::<Fields>(f.rep())?;
    Ok(f.map
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect())
}

/// `[method]fields.clone`: a mutable copy.
fn clone(s: &mut State, (f,): (Borrow<Fields>,)) -> Result<Own<Fields>, HostError> {
    let limit = s.shared.config.max_header_bytes;
    let copy = s.table.get::<Fields>(f.rep())?.mutable_copy(limit);
    Ok(s.own(copy)?)
}

type HeaderResult = Result<Result<(), HeaderError>, HostError>;

/// Register `wasi:http/types.fields`.
pub fn register(r: &mut Registry<'_>) {
    r.resource::<Fields>();
    r.typed(HTTP, "[constructor]fields", |s, (): ()| {
        let limit = s.shared.config.max_header_bytes;
        Ok(s.own(Fields::mutable(limit))?)
    });
    r.typed(HTTP, "[static]fields.from-list", from_list);
    r.typed(HTTP, "[method]fields.get", get);
    r.typed(HTTP, "[method]fields.has", has);
    r.typed(
        HTTP,
        "[method]fields.set",
        |s, (f, name, values): (Borrow<Fields>, String, Vec<Vec<u8>>)| -> HeaderResult {
            Ok(fields_mut(s, &f)?.set(&name, &values))
        },
    );
    r.typed(
        HTTP,
        "[method]fields.delete",
        |s, (f, name): (Borrow<Fields>, String)| -> HeaderResult {
            Ok(fields_mut(s, &f)?.delete(&name).map(drop))
        },
    );
    r.typed(
        HTTP,
        "[method]fields.append",
        |s, (f, name, value): (Borrow<Fields>, String, Vec<u8>)| -> HeaderResult {
            Ok(fields_mut(s, &f)?.append(&name, &value))
        },
    );
    r.typed(HTTP, "[method]fields.entries", entries);
    r.typed(HTTP, "[method]fields.clone", clone);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcx::{check_labels, check_lowering, wit_type};
    use engine_abi::abi::Val;

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

    #[test]
    fn header_error_is_the_wits() {
        let all = [
            HeaderError::InvalidSyntax,
            HeaderError::Forbidden,
            HeaderError::Immutable,
        ];
        assert_eq!(HeaderError::ty(), wit_type(HTTP, "header-error"));
        check_labels(&all, |e| e.case());
        for e in all {
            check_lowering(&e, &Val::Variant(e.case().into(), None));
            let r: Result<(), HeaderError> = Err(e);
            check_lowering(
                &r,
                &Val::Result(Err(Some(Box::new(Val::Variant(e.case().into(), None))))),
            );
        }
    }
}
