//! A test [`AbiContext`]: memory in a `Vec<u8>`, a bump-allocating
//! `realloc` that grows memory like `memory.grow` and logs its calls, and a
//! handle table that checks types and ownership.

use crate::abi::{AbiContext, Resource, StringEncoding, Val};
use crate::error::Trap;
use crate::types::{ResourceType, Type, align_to};

/// One wasm page.
pub const PAGE: usize = 65536;

/// An entry of the handle table.
struct Handle {
    resource: Resource,
    own: bool,
}

/// The test context.
pub struct TestCx {
    /// Linear memory, one page to begin with.
    pub mem: Vec<u8>,
    /// The bump allocator's next free byte.
    pub next: u32,
    /// The guest's string encoding.
    pub encoding: StringEncoding,
    /// Every `realloc(old_ptr, old_size, align, new_size)` call.
    pub reallocs: Vec<(u32, u32, u32, u32)>,
    /// If set, `realloc` returns this instead of allocating (a misbehaving
    /// guest).
    pub bad_realloc: Option<u32>,
    handles: Vec<Option<Handle>>,
}

impl TestCx {
    /// A context with one page of zeroed memory.
    pub fn new(encoding: StringEncoding) -> TestCx {
        TestCx {
            mem: vec![0; PAGE],
            // Keep 0 unused so a null pointer never looks like a block.
            next: 16,
            encoding,
            reallocs: Vec::new(),
            bad_realloc: None,
            // Handle 0 is never valid.
            handles: vec![None],
        }
    }

    /// Allocate `size` bytes aligned to `align`, as the guest would.
    pub fn alloc(&mut self, align: u32, size: u32) -> u32 {
        self.realloc(0, 0, align, size).unwrap()
    }

    /// Write `bytes` at `ptr`.
    pub fn poke(&mut self, ptr: u32, bytes: &[u8]) {
        self.mem[ptr as usize..ptr as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// The bytes at `ptr .. ptr + len`.
    pub fn peek(&self, ptr: u32, len: u32) -> &[u8] {
        &self.mem[ptr as usize..(ptr + len) as usize]
    }

    /// Live handles in the table.
    pub fn live_handles(&self) -> usize {
        self.handles.iter().filter(|h| h.is_some()).count()
    }

    /// Lower `r` as an owned handle, as a host would have, and return it.
    pub fn give(&mut self, r: &Resource) -> u32 {
        self.lower_own(r).unwrap()
    }
}

impl AbiContext for TestCx {
    fn memory(&mut self) -> Result<&mut [u8], Trap> {
        Ok(&mut self.mem)
    }

    fn realloc(
        &mut self,
        old_ptr: u32,
        old_size: u32,
        align: u32,
        new_size: u32,
    ) -> Result<u32, Trap> {
        self.reallocs.push((old_ptr, old_size, align, new_size));
        if let Some(ptr) = self.bad_realloc {
            return Ok(ptr);
        }
        assert!(
            align.is_power_of_two(),
            "realloc called with alignment {align}"
        );
        let ptr = align_to(self.next, align);
        let end = ptr as usize + new_size as usize;
        if end > self.mem.len() {
            self.mem.resize(end.div_ceil(PAGE) * PAGE, 0);
        }
        let keep = old_size.min(new_size) as usize;
        self.mem
            .copy_within(old_ptr as usize..old_ptr as usize + keep, ptr as usize);
        self.next = end as u32;
        Ok(ptr)
    }

    fn string_encoding(&self) -> StringEncoding {
        self.encoding
    }

    fn lift_own(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        let slot = self.handles.get_mut(handle as usize);
        let Some(h) = slot.and_then(|s| s.take_if(|h| h.own && h.resource.ty == *ty)) else {
            return Err(Trap::abi(format!(
                "unknown handle {handle}, or not an own<{}>",
                ty.name()
            )));
        };
        Ok(h.resource)
    }

    fn lift_borrow(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        match self.handles.get(handle as usize) {
            Some(Some(h)) if h.resource.ty == *ty => Ok(h.resource.clone()),
            _ => Err(Trap::abi(format!(
                "unknown handle {handle}, or not a {}",
                ty.name()
            ))),
        }
    }

    fn lower_own(&mut self, resource: &Resource) -> Result<u32, Trap> {
        self.handles.push(Some(Handle {
            resource: resource.clone(),
            own: true,
        }));
        Ok((self.handles.len() - 1) as u32)
    }

    fn lower_borrow(&mut self, resource: &Resource) -> Result<u32, Trap> {
        self.handles.push(Some(Handle {
            resource: resource.clone(),
            own: false,
        }));
        Ok((self.handles.len() - 1) as u32)
    }
}

/// Whether two values are equal, floats compared by bits.
pub fn same(a: &Val, b: &Val) -> bool {
    fn opt(a: &Option<Box<Val>>, b: &Option<Box<Val>>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => same(a, b),
            (None, None) => true,
            _ => false,
        }
    }
    fn all(a: &[Val], b: &[Val]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
    }
    match (a, b) {
        (Val::F32(a), Val::F32(b)) => a.to_bits() == b.to_bits(),
        (Val::F64(a), Val::F64(b)) => a.to_bits() == b.to_bits(),
        (Val::List(a), Val::List(b)) | (Val::Tuple(a), Val::Tuple(b)) => all(a, b),
        (Val::Record(a), Val::Record(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((n, a), (m, b))| n == m && same(a, b))
        }
        (Val::Variant(n, a), Val::Variant(m, b)) => n == m && opt(a, b),
        (Val::Option(a), Val::Option(b)) => opt(a, b),
        (Val::Result(Ok(a)), Val::Result(Ok(b))) | (Val::Result(Err(a)), Val::Result(Err(b))) => {
            opt(a, b)
        }
        _ => a == b,
    }
}

/// What lifting gives back for `v` of type `ty`: NaNs made canonical,
/// `list<u8>` as [`Val::Bytes`].
pub fn canonical(ty: &Type, v: &Val) -> Val {
    let case = |t: Option<&Type>, v: &Option<Box<Val>>| match (t, v) {
        (Some(t), Some(v)) => Some(Box::new(canonical(t, v))),
        _ => None,
    };
    match (ty, v) {
        (_, Val::F32(f)) if f.is_nan() => Val::F32(f32::from_bits(crate::abi::CANONICAL_NAN32)),
        (_, Val::F64(f)) if f.is_nan() => Val::F64(f64::from_bits(crate::abi::CANONICAL_NAN64)),
        (Type::List(l), Val::List(items)) if *l.elem() == Type::U8 => Val::Bytes(
            items
                .iter()
                .map(|v| if let Val::U8(b) = v { *b } else { 0 })
                .collect(),
        ),
        (Type::List(l), Val::List(items)) => {
            Val::List(items.iter().map(|v| canonical(l.elem(), v)).collect())
        }
        (Type::Tuple(t), Val::Tuple(items)) => Val::Tuple(
            t.types()
                .iter()
                .zip(items)
                .map(|(t, v)| canonical(t, v))
                .collect(),
        ),
        (Type::Record(r), Val::Record(fields)) => Val::Record(
            r.fields()
                .iter()
                .zip(fields)
                .map(|((_, t), (n, v))| (n.clone(), canonical(t, v)))
                .collect(),
        ),
        (Type::Variant(var), Val::Variant(n, v)) => {
            let t = var
                .cases()
                .iter()
                .find(|(m, _)| **m == **n)
                .and_then(|(_, t)| t.as_ref());
            Val::Variant(n.clone(), case(t, v))
        }
        (Type::Option(o), Val::Option(v)) => Val::Option(case(Some(o.some()), v)),
        (Type::Result(r), Val::Result(Ok(v))) => Val::Result(Ok(case(r.ok(), v))),
        (Type::Result(r), Val::Result(Err(v))) => Val::Result(Err(case(r.err(), v))),
        (_, v) => v.clone(),
    }
}
