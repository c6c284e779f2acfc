//! Checking a dynamic [`Val`] against a [`Type`] before lowering it.

use crate::types::{Flags, Type};

use super::Val;

impl Val {
    /// Check that this value is of type `ty`; the error names the first
    /// mismatch and where it is (`field `x`: list element 3: expected u8,
    /// found string`).
    ///
    /// Records must list their fields in the type's order; `list<u8>` values
    /// may be [`Val::Bytes`] or [`Val::List`]; handles must name the same
    /// resource type.
    pub fn typecheck(&self, ty: &Type) -> Result<(), String> {
        let mismatch = || Err(format!("expected {}, found {}", short(ty), self.describe()));
        match (ty, self) {
            (Type::Bool, Val::Bool(_))
            | (Type::S8, Val::S8(_))
            | (Type::U8, Val::U8(_))
            | (Type::S16, Val::S16(_))
            | (Type::U16, Val::U16(_))
            | (Type::S32, Val::S32(_))
            | (Type::U32, Val::U32(_))
            | (Type::S64, Val::S64(_))
            | (Type::U64, Val::U64(_))
            | (Type::F32, Val::F32(_))
            | (Type::F64, Val::F64(_))
            | (Type::Char, Val::Char(_))
            | (Type::String, Val::String(_)) => Ok(()),
            (Type::List(l), Val::Bytes(_)) if *l.elem() == Type::U8 => Ok(()),
            (Type::List(l), Val::List(items)) => {
                for (i, v) in items.iter().enumerate() {
                    v.typecheck(l.elem())
                        .map_err(|e| format!("list element {i}: {e}"))?;
                }
                Ok(())
            }
            (Type::Record(r), Val::Record(fields)) => {
                if r.fields().len() != fields.len() {
                    return Err(format!(
                        "expected a record of {} fields, found {}",
                        r.fields().len(),
                        fields.len()
                    ));
                }
                for ((name, t), (found, v)) in r.fields().iter().zip(fields) {
                    if **name != **found {
                        return Err(format!("expected record field `{name}`, found `{found}`"));
                    }
                    v.typecheck(t).map_err(|e| format!("field `{name}`: {e}"))?;
                }
                Ok(())
            }
            (Type::Tuple(t), Val::Tuple(vs)) => {
                if t.types().len() != vs.len() {
                    return Err(format!(
                        "expected a tuple of {} elements, found {}",
                        t.types().len(),
                        vs.len()
                    ));
                }
                for (i, (t, v)) in t.types().iter().zip(vs).enumerate() {
                    v.typecheck(t)
                        .map_err(|e| format!("tuple element {i}: {e}"))?;
                }
                Ok(())
            }
            (Type::Variant(v), Val::Variant(name, payload)) => {
                let Some((_, case)) = v.cases().iter().find(|(n, _)| **n == **name) else {
                    return Err(format!("unknown case `{name}` of {}", short(ty)));
                };
                check_payload(&format!("case `{name}`"), case.as_ref(), payload.as_deref())
            }
            (Type::Enum(e), Val::Enum(name)) => {
                if e.names().iter().any(|n| **n == **name) {
                    Ok(())
                } else {
                    Err(format!("unknown case `{name}` of {}", short(ty)))
                }
            }
            (Type::Option(o), Val::Option(v)) => match v {
                None => Ok(()),
                Some(v) => v.typecheck(o.some()).map_err(|e| format!("some: {e}")),
            },
            (Type::Result(r), Val::Result(v)) => match v {
                Ok(v) => check_payload("ok", r.ok(), v.as_deref()),
                Err(v) => check_payload("err", r.err(), v.as_deref()),
            },
            (Type::Flags(f), Val::Flags(names)) => {
                for name in names {
                    flag_index(f, name)?;
                }
                Ok(())
            }
            (Type::Own(rt), Val::Own(r)) | (Type::Borrow(rt), Val::Borrow(r)) => {
                if r.ty == *rt {
                    Ok(())
                } else {
                    mismatch()
                }
            }
            _ => mismatch(),
        }
    }

    /// What this value is, for messages: its kind, and for a handle its
    /// resource type.
    pub(crate) fn describe(&self) -> String {
        match self {
            Val::Bool(_) => "bool".into(),
            Val::S8(_) => "s8".into(),
            Val::U8(_) => "u8".into(),
            Val::S16(_) => "s16".into(),
            Val::U16(_) => "u16".into(),
            Val::S32(_) => "s32".into(),
            Val::U32(_) => "u32".into(),
            Val::S64(_) => "s64".into(),
            Val::U64(_) => "u64".into(),
            Val::F32(_) => "f32".into(),
            Val::F64(_) => "f64".into(),
            Val::Char(_) => "char".into(),
            Val::String(_) => "string".into(),
            Val::List(_) => "list".into(),
            Val::Bytes(_) => "list<u8> (bytes)".into(),
            Val::Record(_) => "record".into(),
            Val::Tuple(_) => "tuple".into(),
            Val::Variant(..) => "variant".into(),
            Val::Enum(_) => "enum".into(),
            Val::Option(_) => "option".into(),
            Val::Result(_) => "result".into(),
            Val::Flags(_) => "flags".into(),
            Val::Own(r) => format!("own<{}>", r.ty.name()),
            Val::Borrow(r) => format!("borrow<{}>", r.ty.name()),
        }
    }
}

/// Check a case payload against the case's optional type.
fn check_payload(what: &str, ty: Option<&Type>, v: Option<&Val>) -> Result<(), String> {
    match (ty, v) {
        (None, None) => Ok(()),
        (Some(t), Some(v)) => v.typecheck(t).map_err(|e| format!("{what}: {e}")),
        (None, Some(_)) => Err(format!("{what} has no payload, but a value was given")),
        (Some(t), None) => Err(format!("{what} needs a payload of type {}", short(t))),
    }
}

/// The bit index of flag `name` in `f`.
pub(crate) fn flag_index(f: &Flags, name: &str) -> Result<usize, String> {
    f.names()
        .iter()
        .position(|n| **n == *name)
        .ok_or_else(|| format!("unknown flag `{name}`"))
}

/// A type, shortened for a message: compound types with their whole
/// definition can be long, so past a few dozen characters only their kind
/// is named.
pub(crate) fn short(ty: &Type) -> String {
    let s = ty.to_string();
    if s.len() <= 60 {
        return s;
    }
    match ty {
        Type::List(_) => "list<…>",
        Type::Record(_) => "record { … }",
        Type::Tuple(_) => "tuple<…>",
        Type::Variant(_) => "variant { … }",
        Type::Enum(_) => "enum { … }",
        Type::Option(_) => "option<…>",
        Type::Result(_) => "result<…>",
        Type::Flags(_) => "flags { … }",
        _ => return s,
    }
    .to_string()
}
