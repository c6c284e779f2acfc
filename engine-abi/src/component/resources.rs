//! Handle tables: one per component instance, mapping the `i32` handles a
//! guest holds to resources, with the own/borrow rules of the canonical ABI.

use crate::error::Trap;
use crate::types::ResourceType;

/// The most handles one table may hold: a guest that leaks handles in a loop
/// traps instead of growing the host's memory without bound.
pub const MAX_HANDLES: usize = 1 << 20;

#[derive(Clone, Debug)]
pub(crate) enum Slot {
    Free {
        next: u32,
    },
    Own {
        ty: ResourceType,
        rep: u32,
        lends: u32,
    },
    Borrow {
        ty: ResourceType,
        rep: u32,
        scope: u32,
    },
}

/// A component instance's handle table. Handle 0 is never valid.
#[derive(Clone)]
pub(crate) struct HandleTable {
    slots: Vec<Slot>,
    /// Head of the free list (0: empty).
    free: u32,
}

impl Default for HandleTable {
    fn default() -> Self {
        HandleTable {
            slots: vec![Slot::Free { next: 0 }],
            free: 0,
        }
    }
}

impl HandleTable {
    pub fn insert(&mut self, slot: Slot) -> Result<u32, Trap> {
        if self.free != 0 {
            let h = self.free;
            let Slot::Free { next } = self.slots[h as usize] else {
                unreachable!("free list points at a live slot");
            };
            self.free = next;
            self.slots[h as usize] = slot;
            return Ok(h);
        }
        if self.slots.len() >= MAX_HANDLES {
            return Err(Trap::new(
                crate::error::TrapKind::Limit,
                format!("handle table full ({MAX_HANDLES} handles)"),
            ));
        }
        self.slots.push(slot);
        Ok(self.slots.len() as u32 - 1)
    }

    /// Whether a live handle refers to a host resource.
    pub fn holds_host_resources(&self) -> bool {
        self.slots.iter().any(|s| match s {
            Slot::Own { ty, .. } | Slot::Borrow { ty, .. } => ty.is_host(),
            Slot::Free { .. } => false,
        })
    }

    pub fn get_mut(&mut self, handle: u32, ty: &ResourceType) -> Result<&mut Slot, Trap> {
        let slot = match self.slots.get_mut(handle as usize) {
            Some(s) if handle != 0 && !matches!(s, Slot::Free { .. }) => s,
            _ => return Err(Trap::abi(format!("unknown handle index {handle}"))),
        };
        let actual = match slot {
            Slot::Own { ty, .. } | Slot::Borrow { ty, .. } => ty,
            Slot::Free { .. } => unreachable!(),
        };
        if actual != ty {
            // wasmtime's words (which the suites match), then the names.
            let kind = |t: &ResourceType| if t.is_host() { "host" } else { "guest" };
            let found = if kind(actual) == kind(ty) {
                format!("a different {}-defined resource", kind(actual))
            } else {
                format!("a {}-defined resource", kind(actual))
            };
            return Err(Trap::abi(format!(
                "handle index {handle} used with the wrong type, expected {}-defined resource \
                 but found {found} (expected `{}`, found `{}`)",
                kind(ty),
                ty.name(),
                actual.name()
            )));
        }
        Ok(slot)
    }

    pub fn remove(&mut self, handle: u32, ty: &ResourceType) -> Result<Slot, Trap> {
        self.get_mut(handle, ty)?;
        let slot = std::mem::replace(
            &mut self.slots[handle as usize],
            Slot::Free { next: self.free },
        );
        self.free = handle;
        Ok(slot)
    }

    /// Take an owned handle out, as lifting an `own` does.
    pub fn take_own(&mut self, handle: u32, ty: &ResourceType) -> Result<u32, Trap> {
        match self.get_mut(handle, ty)? {
            Slot::Own { lends: 0, .. } => {}
            Slot::Own { .. } => {
                return Err(Trap::abi(format!(
                    "cannot remove owned resource while borrowed: cannot transfer ownership \
                     of handle {handle}"
                )));
            }
            _ => {
                return Err(Trap::abi(format!(
                    "handle {handle} is borrowed, but an owned handle was expected"
                )));
            }
        }
        match self.remove(handle, ty)? {
            Slot::Own { rep, .. } => Ok(rep),
            _ => unreachable!(),
        }
    }

    /// End a lend of `handle` that a call made.
    pub fn end_lend(&mut self, handle: u32) {
        if let Some(Slot::Own { lends, .. }) = self.slots.get_mut(handle as usize) {
            *lends = lends.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_and_checked() {
        let a = ResourceType::fresh("a");
        let b = ResourceType::fresh("b");
        let mut t = HandleTable::default();
        let h1 = t
            .insert(Slot::Own {
                ty: a.clone(),
                rep: 7,
                lends: 0,
            })
            .unwrap();
        assert_eq!(h1, 1);
        assert!(t.get_mut(0, &a).is_err());
        assert!(
            t.get_mut(h1, &b)
                .unwrap_err()
                .message()
                .contains("used with the wrong type, expected guest-defined resource but found a different guest-defined resource (expected `b`, found `a`)")
        );
        assert_eq!(t.take_own(h1, &a).unwrap(), 7);
        assert!(
            t.take_own(h1, &a)
                .unwrap_err()
                .message()
                .contains("unknown handle index 1")
        );
        let h2 = t
            .insert(Slot::Own {
                ty: a.clone(),
                rep: 8,
                lends: 1,
            })
            .unwrap();
        assert_eq!(h2, h1, "freed handles are reused");
        assert!(
            t.take_own(h2, &a)
                .unwrap_err()
                .message()
                .contains("borrowed")
        );
    }
}
