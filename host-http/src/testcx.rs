//! Test support: an [`AbiContext`] over a `Vec<u8>` memory with a bump
//! `realloc` and a handle table, and the checks every hand-written
//! `Lift`/`Lower` of host-http goes through: the typed lowering of a value
//! is byte for byte the dynamic ABI's lowering of the same [`Val`], and each
//! lifts what the other lowered.

use std::fmt::Debug;

use engine_abi::Trap;
use engine_abi::abi::{
    self, AbiContext, ComponentType, Lift, Lower, Resource, StringEncoding, Val, typed,
};
use engine_abi::engine::CoreVal;
use engine_abi::types::{ResourceType, Type};

const PAGE: usize = 65536;

/// Memory, a bump allocator and a handle table, as a guest would have.
#[derive(Clone)]
pub struct TestCx {
    pub mem: Vec<u8>,
    next: u32,
    pub reallocs: Vec<(u32, u32, u32, u32)>,
    handles: Vec<Option<(Resource, bool)>>,
}

impl TestCx {
    pub fn new() -> TestCx {
        TestCx {
            mem: vec![0; PAGE],
            // Keep 0 unused so that a null pointer never looks like a block.
            next: 16,
            reallocs: Vec::new(),
            handles: vec![None],
        }
    }

    /// Allocate `size` bytes aligned to `align`.
    pub fn alloc(&mut self, align: u32, size: u32) -> u32 {
        self.realloc(0, 0, align, size).expect("the test allocator")
    }

    /// Write `bytes` at `ptr`.
    pub fn poke(&mut self, ptr: u32, bytes: &[u8]) {
        self.mem[ptr as usize..ptr as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Hand the guest an own handle to `resource`, as the host would.
    pub fn give(&mut self, resource: Resource) -> u32 {
        self.lower_own(&resource).expect("the test handle table")
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
        let ptr = self.next.div_ceil(align) * align;
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
        StringEncoding::Utf8
    }

    fn lift_own(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        let slot = self.handles.get_mut(handle as usize);
        match slot.and_then(|s| s.take_if(|(r, own)| *own && r.ty == *ty)) {
            Some((r, _)) => Ok(r),
            None => Err(Trap::abi(format!("handle {handle} is not an own<{ty:?}>"))),
        }
    }

    fn lift_borrow(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        match self.handles.get(handle as usize) {
            Some(Some((r, _))) if r.ty == *ty => Ok(r.clone()),
            _ => Err(Trap::abi(format!("handle {handle} is not a {ty:?}"))),
        }
    }

    fn lower_own(&mut self, resource: &Resource) -> Result<u32, Trap> {
        self.handles.push(Some((resource.clone(), true)));
        Ok((self.handles.len() - 1) as u32)
    }

    fn lower_borrow(&mut self, resource: &Resource) -> Result<u32, Trap> {
        self.handles.push(Some((resource.clone(), false)));
        Ok((self.handles.len() - 1) as u32)
    }
}

/// `T::LAYOUT` is the layout engine-abi computes for `T::ty()`.
pub fn check_layout<T: ComponentType>() {
    let (ty, layout) = (T::ty(), T::LAYOUT);
    assert_eq!(
        (layout.size, layout.align, layout.flat_count()),
        (ty.size(), ty.align(), ty.flat().len()),
        "size, alignment and flat count of {ty}"
    );
    assert_eq!(layout.flat(), Some(ty.flat()), "flattening of {ty}");
}

/// Check the typed ABI of `T` against the dynamic one for `value`, whose
/// dynamic form is `val`:
/// - `T::ty()` types `val`;
/// - lowered flat and stored in memory, `value` gives the same core values,
///   the same memory and the same `realloc` calls as `val`;
/// - lifting what one API lowered with the other gives back the value.
pub fn check_against_dynamic<T: Lift + Lower + PartialEq + Debug>(value: &T, val: &Val) {
    let ty = T::ty();
    check_layout::<T>();
    val.typecheck(&ty)
        .unwrap_or_else(|e| panic!("{val:?} is not a {ty}: {e}"));
    let base = TestCx::new();

    // Flat.
    let (mut typed_cx, mut dyn_cx) = (base.clone(), base.clone());
    let mut typed_flat = Vec::new();
    value.lower_flat(&mut typed_cx, &mut typed_flat).unwrap();
    let mut dyn_flat = Vec::new();
    abi::lower_flat(&mut dyn_cx, &ty, val, &mut dyn_flat).unwrap();
    assert_eq!(typed_flat, dyn_flat, "flat lowering of {value:?}");
    assert_eq!(
        typed_cx.reallocs, dyn_cx.reallocs,
        "allocations of {value:?}"
    );
    assert!(
        typed_cx.mem == dyn_cx.mem,
        "memory after lowering {value:?} flat"
    );
    let lifted = abi::lift_flat(&mut typed_cx, &ty, &mut typed_flat.into_iter()).unwrap();
    assert_eq!(&lifted, val, "dynamic lift of the typed lowering");
    let back = T::lift_flat(&mut dyn_cx, &mut dyn_flat.into_iter()).unwrap();
    assert_eq!(&back, value, "typed lift of the dynamic lowering");

    // In memory.
    let (mut typed_cx, mut dyn_cx) = (base.clone(), base);
    let ptr = typed_cx.alloc(ty.align(), ty.size());
    assert_eq!(ptr, dyn_cx.alloc(ty.align(), ty.size()));
    typed::store(&mut typed_cx, value, ptr).unwrap();
    abi::store(&mut dyn_cx, &ty, val, ptr).unwrap();
    assert_eq!(
        typed_cx.reallocs, dyn_cx.reallocs,
        "allocations of {value:?}"
    );
    assert!(typed_cx.mem == dyn_cx.mem, "memory after storing {value:?}");
    let lifted = abi::load(&mut typed_cx, &ty, ptr).unwrap();
    assert_eq!(&lifted, val, "dynamic load of the typed store");
    let back: T = typed::load(&mut dyn_cx, ptr).unwrap();
    assert_eq!(&back, value, "typed load of the dynamic store");
}

/// As [`check_against_dynamic`], for a type that only lowers: the typed
/// lowering is the dynamic one, and the dynamic lift of it is `val`.
pub fn check_lowering<T: Lower + Debug>(value: &T, val: &Val) {
    let ty = T::ty();
    check_layout::<T>();
    val.typecheck(&ty)
        .unwrap_or_else(|e| panic!("{val:?} is not a {ty}: {e}"));
    let base = TestCx::new();
    let (mut typed_cx, mut dyn_cx) = (base.clone(), base.clone());
    let mut typed_flat = Vec::new();
    value.lower_flat(&mut typed_cx, &mut typed_flat).unwrap();
    let mut dyn_flat: Vec<CoreVal> = Vec::new();
    abi::lower_flat(&mut dyn_cx, &ty, val, &mut dyn_flat).unwrap();
    assert_eq!(typed_flat, dyn_flat, "flat lowering of {value:?}");
    assert!(
        typed_cx.mem == dyn_cx.mem,
        "memory after lowering {value:?} flat"
    );
    let lifted = abi::lift_flat(&mut typed_cx, &ty, &mut typed_flat.into_iter()).unwrap();
    assert_eq!(&lifted, val, "dynamic lift of the typed lowering");

    let (mut typed_cx, mut dyn_cx) = (base.clone(), base);
    let ptr = typed_cx.alloc(ty.align(), ty.size());
    dyn_cx.alloc(ty.align(), ty.size());
    typed::store(&mut typed_cx, value, ptr).unwrap();
    abi::store(&mut dyn_cx, &ty, val, ptr).unwrap();
    assert!(typed_cx.mem == dyn_cx.mem, "memory after storing {value:?}");
    assert_eq!(&abi::load(&mut typed_cx, &ty, ptr).unwrap(), val);
}

/// Each value's case name, as `label` gives it, is its Rust variant name in
/// the WIT's spelling: the same letters once the dashes are gone, in any
/// case (`HttpRequestUriInvalid` is `HTTP-request-URI-invalid`). So the
/// table of names and the Rust enum cannot drift apart.
pub fn check_labels<T: Debug>(values: &[T], label: impl Fn(&T) -> &'static str) {
    for v in values {
        let debug = format!("{v:?}");
        let rust = debug.split(['(', ' ', '{']).next().unwrap_or_default();
        let wit: String = label(v).chars().filter(|c| *c != '-').collect();
        assert!(
            rust.eq_ignore_ascii_case(&wit),
            "{rust} is labelled {}",
            label(v)
        );
    }
}

/// The type named `name` in the vendored WIT's interface `interface`.
pub fn wit_type(interface: &str, name: &str) -> Type {
    crate::wit::wit()
        .type_named(interface, name)
        .unwrap_or_else(|| panic!("no type {name} in {interface}"))
}

/// A request's state with the default configuration and an empty table.
pub fn state() -> crate::state::State {
    let config = crate::config::Config::default();
    let client = crate::client::Client::new(&config.outgoing).expect("the default client");
    crate::state::State {
        table: crate::table::Table::default(),
        shared: std::sync::Arc::new(crate::state::Shared {
            config,
            client: std::sync::Arc::new(client),
        }),
        id: 0,
        response_set: false,
        outgoing: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        log: crate::state::LogBudget {
            left: crate::config::Config::DEFAULT_MAX_LOG_BYTES,
            cut: false,
        },
    }
}
