//! Per-request host state: one typed table of every host resource the
//! request's guest holds (fields, requests, responses, bodies, streams,
//! pollables, futures), the request id, and the limits.
//!
//! A resource's `rep` is its key in [`Table`]. The guest's handle tables (in
//! engine-abi) map guest handles to these reps; when the guest drops its last
//! own handle, the resource's destructor removes the entry here, and the
//! entry's `Drop` does the rest (an outgoing body dropped unfinished aborts
//! its HTTP body, an incoming body stops reading, …).

use std::sync::{Arc, LazyLock};

use engine_abi::Trap;
use engine_abi::abi::{Resource, Val};
use engine_abi::types::ResourceType;

use crate::body::{FutureTrailers, IncomingBody, OutgoingBody};
use crate::handler::Shared;
use crate::io::{InputStream, OutputStream, Pollable};
use crate::outgoing::FutureIncomingResponse;
use crate::types_impl::{
    Fields, IncomingRequest, IncomingResponse, OutgoingRequest, OutgoingResponse, RequestOptions,
    ResponseOutparam,
};

/// Most live resources one request may hold.
pub const MAX_RESOURCES: usize = 100_000;

/// A host resource.
pub enum Entry {
    /// `wasi:http/types.fields`
    Fields(Fields),
    /// `wasi:http/types.incoming-request`
    IncomingRequest(IncomingRequest),
    /// `wasi:http/types.outgoing-request`
    OutgoingRequest(OutgoingRequest),
    /// `wasi:http/types.request-options`
    RequestOptions(RequestOptions),
    /// `wasi:http/types.response-outparam`
    ResponseOutparam(ResponseOutparam),
    /// `wasi:http/types.incoming-response`
    IncomingResponse(IncomingResponse),
    /// `wasi:http/types.outgoing-response`
    OutgoingResponse(OutgoingResponse),
    /// `wasi:http/types.incoming-body`
    IncomingBody(IncomingBody),
    /// `wasi:http/types.outgoing-body`
    OutgoingBody(OutgoingBody),
    /// `wasi:http/types.future-trailers`
    FutureTrailers(FutureTrailers),
    /// `wasi:http/types.future-incoming-response`
    FutureIncomingResponse(FutureIncomingResponse),
    /// `wasi:io/streams.input-stream`
    InputStream(InputStream),
    /// `wasi:io/streams.output-stream`
    OutputStream(OutputStream),
    /// `wasi:io/poll.pollable`
    Pollable(Pollable),
    /// `wasi:io/error.error`
    IoError(crate::io::IoError),
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Fields(_) => "fields",
            Entry::IncomingRequest(_) => "incoming-request",
            Entry::OutgoingRequest(_) => "outgoing-request",
            Entry::RequestOptions(_) => "request-options",
            Entry::ResponseOutparam(_) => "response-outparam",
            Entry::IncomingResponse(_) => "incoming-response",
            Entry::OutgoingResponse(_) => "outgoing-response",
            Entry::IncomingBody(_) => "incoming-body",
            Entry::OutgoingBody(_) => "outgoing-body",
            Entry::FutureTrailers(_) => "future-trailers",
            Entry::FutureIncomingResponse(_) => "future-incoming-response",
            Entry::InputStream(_) => "input-stream",
            Entry::OutputStream(_) => "output-stream",
            Entry::Pollable(_) => "pollable",
            Entry::IoError(_) => "error",
        }
    }
}

/// The request's resources, keyed by rep (index + 1).
///
/// Some resources are children of another (wasi's words): a body's stream,
/// a pollable of whatever it subscribes to. A parent cannot go (dropped or
/// consumed) while a child lives; trying traps, as wasi:http and wasi:io
/// say and wasmtime does.
#[derive(Default)]
pub struct Table {
    entries: Vec<Option<Slot>>,
    free: Vec<u32>,
    live: usize,
}

struct Slot {
    entry: Entry,
    parent: Option<u32>,
    children: u32,
}

macro_rules! accessors {
    ($($variant:ident => $get:ident, $take:ident: $ty:ty;)*) => {
        impl Table {
            $(
                #[doc = concat!("The `", stringify!($variant), "` at `rep`, or a trap.")]
                #[allow(dead_code)]
                pub fn $get(&mut self, rep: u32) -> Result<&mut $ty, Trap> {
                    match self.get_mut(rep) {
                        Some(Entry::$variant(x)) => Ok(x),
                        other => Err(wrong(rep, stringify!($variant), other.map(|e| e.kind()))),
                    }
                }
                #[doc = concat!("Remove the `", stringify!($variant), "` at `rep`, or trap.")]
                #[allow(dead_code)]
                pub fn $take(&mut self, rep: u32) -> Result<$ty, Trap> {
                    match self.get_mut(rep) {
                        Some(Entry::$variant(_)) => match self.remove(rep)? {
                            Some(Entry::$variant(x)) => Ok(x),
                            _ => unreachable!("the entry was just checked"),
                        },
                        other => Err(wrong(rep, stringify!($variant), other.map(|e| e.kind()))),
                    }
                }
            )*
        }
    };
}

fn wrong(rep: u32, want: &str, found: Option<&str>) -> Trap {
    match found {
        Some(k) => Trap::host(format!("host resource {rep} is a {k}, not a {want}")),
        None => Trap::host(format!("host resource {rep} ({want}) does not exist")),
    }
}

accessors! {
    Fields => fields, take_fields: Fields;
    IncomingRequest => incoming_request, take_incoming_request: IncomingRequest;
    OutgoingRequest => outgoing_request, take_outgoing_request: OutgoingRequest;
    RequestOptions => request_options, take_request_options: RequestOptions;
    ResponseOutparam => response_outparam, take_response_outparam: ResponseOutparam;
    IncomingResponse => incoming_response, take_incoming_response: IncomingResponse;
    OutgoingResponse => outgoing_response, take_outgoing_response: OutgoingResponse;
    IncomingBody => incoming_body, take_incoming_body: IncomingBody;
    OutgoingBody => outgoing_body, take_outgoing_body: OutgoingBody;
    FutureTrailers => future_trailers, take_future_trailers: FutureTrailers;
    FutureIncomingResponse => future_incoming_response, take_future_incoming_response: FutureIncomingResponse;
    InputStream => input_stream, take_input_stream: InputStream;
    OutputStream => output_stream, take_output_stream: OutputStream;
    Pollable => pollable, take_pollable: Pollable;
    IoError => io_error, take_io_error: crate::io::IoError;
}

impl Table {
    /// Add `entry`, returning its rep.
    pub fn push(&mut self, entry: Entry) -> Result<u32, Trap> {
        self.insert(entry, None)
    }

    /// Add `entry` as a child of `parent`, which then cannot be removed
    /// before it.
    pub fn push_child(&mut self, entry: Entry, parent: u32) -> Result<u32, Trap> {
        let Some(p) = self.slot_mut(parent) else {
            return Err(Trap::host(format!("host resource {parent} does not exist")));
        };
        p.children += 1;
        self.insert(entry, Some(parent)).inspect_err(|_| {
            if let Some(p) = self.slot_mut(parent) {
                p.children -= 1;
            }
        })
    }

    fn insert(&mut self, entry: Entry, parent: Option<u32>) -> Result<u32, Trap> {
        if self.live >= MAX_RESOURCES {
            return Err(Trap::host(format!(
                "the request holds more than {MAX_RESOURCES} host resources"
            )));
        }
        self.live += 1;
        let slot = Some(Slot {
            entry,
            parent,
            children: 0,
        });
        match self.free.pop() {
            Some(rep) => {
                self.entries[rep as usize - 1] = slot;
                Ok(rep)
            }
            None => {
                self.entries.push(slot);
                Ok(self.entries.len() as u32)
            }
        }
    }

    fn slot_mut(&mut self, rep: u32) -> Option<&mut Slot> {
        self.entries
            .get_mut((rep as usize).checked_sub(1)?)
            .and_then(Option::as_mut)
    }

    /// The entry at `rep`.
    pub fn get_mut(&mut self, rep: u32) -> Option<&mut Entry> {
        self.slot_mut(rep).map(|s| &mut s.entry)
    }

    /// Remove the entry at `rep` (`None` if there is none); a trap if it
    /// still has children.
    pub fn remove(&mut self, rep: u32) -> Result<Option<Entry>, Trap> {
        let Some(slot) = self.slot_mut(rep) else {
            return Ok(None);
        };
        if slot.children > 0 {
            return Err(Trap::host(format!(
                "{} {rep} went away while {} of its child resources (a stream or \
                 pollable it handed out) still exist; drop those first",
                slot.entry.kind(),
                slot.children
            )));
        }
        let slot = self.entries[rep as usize - 1]
            .take()
            .expect("the slot was just found");
        self.live -= 1;
        self.free.push(rep);
        if let Some(p) = slot.parent.and_then(|p| self.slot_mut(p)) {
            p.children -= 1;
        }
        Ok(Some(slot.entry))
    }
}

/// The per-request state: the store data of every request's instance.
pub struct State {
    /// The request's resources.
    pub table: Table,
    /// What all requests of a handler share: config, limits, client.
    pub shared: Arc<Shared>,
    /// The request id, for logs.
    pub id: u64,
    /// Whether `response-outparam.set` was called.
    pub response_set: bool,
    /// Outgoing requests this request may still start.
    pub outgoing: Arc<tokio::sync::Semaphore>,
}

impl State {
    /// Run the destructor of resource `rep` (the guest dropped it).
    pub fn drop_resource(&mut self, rep: u32, what: &str) -> Result<(), Trap> {
        if self.table.remove(rep)?.is_none() {
            tracing::debug!(request = self.id, "drop of a missing {what} {rep}");
        }
        Ok(())
    }

    /// Add `entry` and hand it to the guest as `own<ty>`.
    pub fn own(&mut self, ty: &ResourceType, entry: Entry) -> Result<Val, Trap> {
        let rep = self.table.push(entry)?;
        Ok(Val::Own(Resource {
            ty: ty.clone(),
            rep,
        }))
    }

    /// Add `entry` as a child of `parent` and hand it to the guest as
    /// `own<ty>`.
    pub fn own_child(&mut self, ty: &ResourceType, entry: Entry, parent: u32) -> Result<Val, Trap> {
        let rep = self.table.push_child(entry, parent)?;
        Ok(Val::Own(Resource {
            ty: ty.clone(),
            rep,
        }))
    }
}

/// The host's resource types, by interface and name.
pub struct Resources {
    pub fields: ResourceType,
    pub incoming_request: ResourceType,
    pub outgoing_request: ResourceType,
    pub request_options: ResourceType,
    pub response_outparam: ResourceType,
    pub incoming_response: ResourceType,
    pub outgoing_response: ResourceType,
    pub incoming_body: ResourceType,
    pub outgoing_body: ResourceType,
    pub future_trailers: ResourceType,
    pub future_incoming_response: ResourceType,
    pub input_stream: ResourceType,
    pub output_stream: ResourceType,
    pub pollable: ResourceType,
    pub io_error: ResourceType,
}

/// The host's resource types.
pub static R: LazyLock<Resources> = LazyLock::new(|| {
    let http = |n| ResourceType::host("wasi:http/types@0.2.12", n);
    Resources {
        fields: http("fields"),
        incoming_request: http("incoming-request"),
        outgoing_request: http("outgoing-request"),
        request_options: http("request-options"),
        response_outparam: http("response-outparam"),
        incoming_response: http("incoming-response"),
        outgoing_response: http("outgoing-response"),
        incoming_body: http("incoming-body"),
        outgoing_body: http("outgoing-body"),
        future_trailers: http("future-trailers"),
        future_incoming_response: http("future-incoming-response"),
        input_stream: ResourceType::host("wasi:io/streams@0.2.12", "input-stream"),
        output_stream: ResourceType::host("wasi:io/streams@0.2.12", "output-stream"),
        pollable: ResourceType::host("wasi:io/poll@0.2.12", "pollable"),
        io_error: ResourceType::host("wasi:io/error@0.2.12", "error"),
    }
});

/// Reading lifted arguments. The ABI has already checked them against the
/// WIT types, so a mismatch is a host bug; it traps rather than panics.
pub mod arg {
    use engine_abi::Trap;
    use engine_abi::abi::Val;

    fn bad(what: &str, v: &Val) -> Trap {
        Trap::host(format!("host bug: expected {what}, got {v:?}"))
    }

    /// The rep of an `own` or `borrow` handle.
    pub fn rep(v: &Val) -> Result<u32, Trap> {
        match v {
            Val::Own(r) | Val::Borrow(r) => Ok(r.rep),
            v => Err(bad("a handle", v)),
        }
    }
    /// A `string`.
    pub fn string(v: &Val) -> Result<&str, Trap> {
        match v {
            Val::String(s) => Ok(s),
            v => Err(bad("a string", v)),
        }
    }
    /// A `list<u8>`.
    pub fn bytes(v: &Val) -> Result<Vec<u8>, Trap> {
        match v {
            Val::Bytes(b) => Ok(b.clone()),
            Val::List(l) => l
                .iter()
                .map(|b| match b {
                    Val::U8(b) => Ok(*b),
                    v => Err(bad("a u8", v)),
                })
                .collect(),
            v => Err(bad("a list<u8>", v)),
        }
    }
    /// A `u64`.
    pub fn u64(v: &Val) -> Result<u64, Trap> {
        match v {
            Val::U64(x) => Ok(*x),
            v => Err(bad("a u64", v)),
        }
    }
    /// A `u16`.
    pub fn u16(v: &Val) -> Result<u16, Trap> {
        match v {
            Val::U16(x) => Ok(*x),
            v => Err(bad("a u16", v)),
        }
    }
    /// An `option<T>`.
    pub fn option(v: &Val) -> Result<Option<&Val>, Trap> {
        match v {
            Val::Option(o) => Ok(o.as_deref()),
            v => Err(bad("an option", v)),
        }
    }
    /// A `list<T>`.
    pub fn list(v: &Val) -> Result<&[Val], Trap> {
        match v {
            Val::List(l) => Ok(l),
            v => Err(bad("a list", v)),
        }
    }
}

/// Building results.
pub mod ret {
    use engine_abi::abi::Val;

    /// `ok(v)`
    pub fn ok(v: Val) -> Val {
        Val::Result(Ok(Some(Box::new(v))))
    }
    /// `ok` with no payload.
    pub fn ok_unit() -> Val {
        Val::Result(Ok(None))
    }
    /// `err(v)`
    pub fn err(v: Val) -> Val {
        Val::Result(Err(Some(Box::new(v))))
    }
    /// `err` with no payload.
    pub fn err_unit() -> Val {
        Val::Result(Err(None))
    }
    /// `some(v)`
    pub fn some(v: Val) -> Val {
        Val::Option(Some(Box::new(v)))
    }
    /// `none`
    pub fn none() -> Val {
        Val::Option(None)
    }
    /// An optional string.
    pub fn opt_string(s: Option<&str>) -> Val {
        Val::Option(s.map(|s| Box::new(Val::String(s.to_string()))))
    }
    /// A case of a variant or enum without payload.
    pub fn case(name: &str) -> Val {
        Val::Variant(name.to_string(), None)
    }
}
