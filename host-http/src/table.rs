//! The table of a request's host resources (no WIT of its own): one entry
//! per resource the guest holds, of any type that is an [`Entry`], in the
//! spirit of wasmtime's `ResourceTable`.
//!
//! A resource's `rep` is its key here. The guest's handle tables (in
//! engine-abi) map guest handles to these reps; when the guest drops its last
//! own handle, the resource's destructor removes the entry, and the entry's
//! `Drop` does the rest (an outgoing body dropped unfinished aborts its HTTP
//! body, an incoming body stops reading, …). The table knows no resource
//! type: each interface's file owns its types, and gets them back with
//! [`Table::get`] and [`Table::take`], which trap on a rep of another type.

use std::any::Any;

use engine_abi::Trap;

/// Most live resources one request may hold, by default
/// ([`Config::max_host_resources`](crate::Config::max_host_resources)).
pub const MAX_RESOURCES: usize = 100_000;

/// A value the table can hold: its WIT resource name, for traps ("host
/// resource 3 is a fields, not a pollable").
pub trait Entry: Any + Send {
    /// The resource's name in its WIT interface, e.g. `fields`.
    const NAME: &'static str;
}

/// The request's resources, keyed by rep (index + 1).
///
/// Some resources are children of another (wasi's words): a body's stream,
/// a pollable of whatever it subscribes to. A parent cannot go (dropped or
/// consumed) while a child lives; trying traps, as wasi:http and wasi:io
/// say and wasmtime does.
pub struct Table {
    entries: Vec<Option<Slot>>,
    free: Vec<u32>,
    live: usize,
    limit: usize,
}

impl Default for Table {
    /// An empty table holding at most [`MAX_RESOURCES`].
    fn default() -> Self {
        Table::with_limit(MAX_RESOURCES)
    }
}

struct Slot {
    value: Box<dyn Any + Send>,
    name: &'static str,
    parent: Option<u32>,
    children: u32,
}

fn wrong_type(rep: u32, want: &str, found: &str) -> Trap {
    Trap::host(format!("host resource {rep} is a {found}, not a {want}"))
}

fn missing(rep: u32, want: &str) -> Trap {
    Trap::host(format!("host resource {rep} ({want}) does not exist"))
}

impl Table {
    /// An empty table holding at most `limit` live resources.
    pub fn with_limit(limit: usize) -> Table {
        Table {
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
            limit,
        }
    }

    /// Add `value`, returning its rep.
    pub fn push<T: Entry>(&mut self, value: T) -> Result<u32, Trap> {
        self.insert(Box::new(value), T::NAME, None)
    }

    /// Add `value` as a child of `parent`, which then cannot be removed
    /// before it.
    pub fn push_child<T: Entry>(&mut self, value: T, parent: u32) -> Result<u32, Trap> {
        let Some(p) = self.slot_mut(parent) else {
            return Err(Trap::host(format!("host resource {parent} does not exist")));
        };
        p.children += 1;
        self.insert(Box::new(value), T::NAME, Some(parent))
            .inspect_err(|_| {
                if let Some(p) = self.slot_mut(parent) {
                    p.children -= 1;
                }
            })
    }

    fn insert(
        &mut self,
        value: Box<dyn Any + Send>,
        name: &'static str,
        parent: Option<u32>,
    ) -> Result<u32, Trap> {
        if self.live >= self.limit {
            return Err(Trap::host(format!(
                "the request holds more than {} host resources (the limit)",
                self.limit
            )));
        }
        self.live += 1;
        let slot = Some(Slot {
            value,
            name,
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

    fn slot(&self, rep: u32) -> Option<&Slot> {
        self.entries
            .get((rep as usize).checked_sub(1)?)
            .and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, rep: u32) -> Option<&mut Slot> {
        self.entries
            .get_mut((rep as usize).checked_sub(1)?)
            .and_then(Option::as_mut)
    }

    /// The `T` at `rep`, or a trap naming what is there instead.
    pub fn get<T: Entry>(&self, rep: u32) -> Result<&T, Trap> {
        let slot = self.slot(rep).ok_or_else(|| missing(rep, T::NAME))?;
        slot.value
            .downcast_ref()
            .ok_or_else(|| wrong_type(rep, T::NAME, slot.name))
    }

    /// The `T` at `rep`, mutably, or a trap naming what is there instead.
    pub fn get_mut<T: Entry>(&mut self, rep: u32) -> Result<&mut T, Trap> {
        let slot = self.slot_mut(rep).ok_or_else(|| missing(rep, T::NAME))?;
        let name = slot.name;
        slot.value
            .downcast_mut()
            .ok_or_else(|| wrong_type(rep, T::NAME, name))
    }

    /// Remove the `T` at `rep` and return it; a trap if there is none, it
    /// is of another type (then it stays), or it still has children.
    pub fn take<T: Entry>(&mut self, rep: u32) -> Result<T, Trap> {
        self.remove(rep)?.ok_or_else(|| missing(rep, T::NAME))
    }

    /// Remove the `T` at `rep` and return it, `None` if there is none; a
    /// trap if it is of another type (then it stays) or still has children.
    pub fn remove<T: Entry>(&mut self, rep: u32) -> Result<Option<T>, Trap> {
        let Some(slot) = self.slot(rep) else {
            return Ok(None);
        };
        if !slot.value.is::<T>() {
            return Err(wrong_type(rep, T::NAME, slot.name));
        }
        let value = self.remove_slot(rep)?;
        match value.downcast() {
            Ok(v) => Ok(Some(*v)),
            Err(_) => Err(Trap::host(format!(
                "host bug: host resource {rep} changed type while being removed"
            ))),
        }
    }

    /// Remove the entry at `rep`, whatever its type (`false` if there is
    /// none): for the destructors of resources no file owns. A trap if it
    /// still has children.
    pub fn remove_any(&mut self, rep: u32) -> Result<bool, Trap> {
        if self.slot(rep).is_none() {
            return Ok(false);
        }
        drop(self.remove_slot(rep)?);
        Ok(true)
    }

    /// Remove the slot at `rep`, which exists, unless it has children.
    fn remove_slot(&mut self, rep: u32) -> Result<Box<dyn Any + Send>, Trap> {
        let taken = self
            .entries
            .get_mut((rep as usize).wrapping_sub(1))
            .and_then(|s| s.take_if(|s| s.children == 0));
        let Some(slot) = taken else {
            let (name, children) = self
                .slot(rep)
                .map_or(("resource", 0), |s| (s.name, s.children));
            return Err(Trap::host(format!(
                "{name} {rep} went away while {children} of its child resources (a stream or \
                 pollable it handed out) still exist; drop those first"
            )));
        };
        self.live -= 1;
        self.free.push(rep);
        if let Some(p) = slot.parent.and_then(|p| self.slot_mut(p)) {
            p.children -= 1;
        }
        Ok(slot.value)
    }

    /// How many resources are live.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no resource is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fields(u32);
    impl Entry for Fields {
        const NAME: &'static str = "fields";
    }

    struct Pollable;
    impl Entry for Pollable {
        const NAME: &'static str = "pollable";
    }

    #[test]
    fn typed_access() {
        let mut t = Table::default();
        let f = t.push(Fields(7)).unwrap();
        let p = t.push(Pollable).unwrap();
        assert_ne!(f, p);
        assert_eq!(t.get::<Fields>(f).unwrap().0, 7);
        t.get_mut::<Fields>(f).unwrap().0 = 8;
        assert_eq!(t.take::<Fields>(f).unwrap().0, 8);
        assert_eq!(t.len(), 1);
        // The freed rep is reused, for the new entry's type.
        let again = t.push(Pollable).unwrap();
        assert_eq!(again, f);
        assert!(t.get::<Pollable>(again).is_ok());
    }

    #[test]
    fn wrong_type_traps_and_keeps_the_entry() {
        let mut t = Table::default();
        let f = t.push(Fields(1)).unwrap();
        for err in [
            t.get::<Pollable>(f).map(|_| ()).unwrap_err(),
            t.get_mut::<Pollable>(f).map(|_| ()).unwrap_err(),
            t.take::<Pollable>(f).map(|_| ()).unwrap_err(),
            t.remove::<Pollable>(f).map(|_| ()).unwrap_err(),
        ] {
            assert_eq!(
                err.message(),
                format!("host resource {f} is a fields, not a pollable")
            );
        }
        assert_eq!(t.get::<Fields>(f).unwrap().0, 1);
    }

    #[test]
    fn missing_entries() {
        let mut t = Table::default();
        for rep in [0, 1, u32::MAX] {
            let err = t.get::<Pollable>(rep).map(|_| ()).unwrap_err();
            assert_eq!(
                err.message(),
                format!("host resource {rep} (pollable) does not exist")
            );
            assert!(t.take::<Fields>(rep).is_err());
            assert!(t.remove::<Fields>(rep).unwrap().is_none());
            assert!(!t.remove_any(rep).unwrap());
            assert!(t.push_child(Pollable, rep).is_err());
        }
        let f = t.push(Fields(1)).unwrap();
        t.take::<Fields>(f).unwrap();
        assert!(t.get::<Fields>(f).is_err());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn parents_outlive_children() {
        let mut t = Table::default();
        let parent = t.push(Fields(1)).unwrap();
        let a = t.push_child(Pollable, parent).unwrap();
        let b = t.push_child(Pollable, parent).unwrap();
        let err = t.take::<Fields>(parent).map(|_| ()).unwrap_err();
        assert!(
            err.message().starts_with(&format!(
                "fields {parent} went away while 2 of its child resources"
            )),
            "{err}"
        );
        assert!(t.remove_any(parent).is_err());
        // Still there, and still usable.
        assert_eq!(t.get::<Fields>(parent).unwrap().0, 1);
        t.take::<Pollable>(a).unwrap();
        assert!(t.take::<Fields>(parent).is_err());
        assert!(t.remove_any(b).unwrap());
        assert_eq!(t.take::<Fields>(parent).unwrap().0, 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn the_cap_holds() {
        for limit in [MAX_RESOURCES, 3] {
            the_cap_holds_at(
                limit,
                if limit == MAX_RESOURCES {
                    Table::default()
                } else {
                    Table::with_limit(limit)
                },
            );
        }
    }

    fn the_cap_holds_at(limit: usize, mut t: Table) {
        let parent = t.push(Fields(0)).unwrap();
        for _ in 1..limit {
            t.push(Pollable).unwrap();
        }
        let err = t.push(Pollable).unwrap_err();
        assert!(
            err.message().contains(&format!("more than {limit}")),
            "{err}"
        );
        // A child refused for the cap does not count against its parent.
        assert!(t.push_child(Pollable, parent).is_err());
        assert!(t.take::<Fields>(parent).is_ok());
        assert!(t.push(Pollable).is_ok());
    }
}
