//! Start functions as ordinary exports.
//!
//! wasmi runs a module's start function inside `Instance::new`, as one
//! plain call: it cannot be resumed after running out of fuel, so it cannot
//! run in time slices, yield to the executor or stop at the request's
//! deadline, and a start function that never returns would hold its thread.
//! wasmi 2.0 has no way to instantiate without running it (no
//! `InstancePre` since 1.0; `Module::instantiate`, which does the steps
//! one by one, is crate-private). So a module with a start function is
//! compiled without one: its start section is removed and the function is
//! exported under a name of its own, which instantiation then calls as any
//! other guest call, right after `Instance::new` (where the start function
//! would have run: after the tables and memories were initialised).
//!
//! Only the framing of sections is read here (an id, a size), plus the
//! start and export sections themselves. A module this cannot read is
//! left alone: wasmi rejects it when it validates it.

/// A module rewritten without its start section.
pub(crate) struct Split {
    /// The module's bytes, without a start section, with one more export.
    pub wasm: Vec<u8>,
    /// The export that names the start function.
    pub start_export: String,
}

const EXPORT_SECTION: u8 = 7;
const START_SECTION: u8 = 8;
const FUNC_EXPORT: u8 = 0;

/// The name the start function is exported under, if the module exports
/// nothing of that name already (or else a numbered variant).
const START_EXPORT: &str = "cohost:start";

/// `wasm` without its start section and with its start function exported;
/// `None` if it has no start section or cannot be read.
pub(crate) fn split_start(wasm: &[u8]) -> Option<Split> {
    let header = wasm.get(..8)?;
    if header != b"\0asm\x01\0\0\0" {
        return None;
    }
    let sections = sections(wasm)?;
    let mut starts = sections.iter().filter(|s| s.id == START_SECTION);
    let start = starts.next()?;
    if starts.next().is_some() {
        return None;
    }
    let mut pos = start.contents.start;
    let start_func = leb_u32(wasm, &mut pos)?;
    if pos != start.contents.end {
        return None;
    }
    let exports = sections.iter().find(|s| s.id == EXPORT_SECTION);
    let old = match exports {
        Some(s) => read_exports(wasm, s.contents.clone())?,
        None => Exports::default(),
    };
    let start_export = unique_name(&old.names);
    let mut section = Vec::new();
    write_leb(&mut section, old.count.checked_add(1)?);
    section.extend_from_slice(old.entries);
    write_leb(&mut section, u32::try_from(start_export.len()).ok()?);
    section.extend_from_slice(start_export.as_bytes());
    section.push(FUNC_EXPORT);
    write_leb(&mut section, start_func);

    let mut out = Vec::with_capacity(wasm.len() + section.len() + 8);
    out.extend_from_slice(header);
    let write_exports = |out: &mut Vec<u8>| -> Option<()> {
        out.push(EXPORT_SECTION);
        write_leb(out, u32::try_from(section.len()).ok()?);
        out.extend_from_slice(&section);
        Some(())
    };
    for s in &sections {
        match s.id {
            EXPORT_SECTION => write_exports(&mut out)?,
            // The export section comes right before the start section:
            // where a module has none, the new one goes here.
            START_SECTION if exports.is_none() => write_exports(&mut out)?,
            START_SECTION => {}
            _ => out.extend_from_slice(&wasm[s.whole.clone()]),
        }
    }
    Some(Split {
        wasm: out,
        start_export,
    })
}

struct Section {
    id: u8,
    whole: std::ops::Range<usize>,
    contents: std::ops::Range<usize>,
}

/// The sections after the header, or `None` if one overruns the module.
fn sections(wasm: &[u8]) -> Option<Vec<Section>> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let begin = pos;
        let id = wasm[pos];
        pos += 1;
        let size = usize::try_from(leb_u32(wasm, &mut pos)?).ok()?;
        let end = pos.checked_add(size).filter(|&e| e <= wasm.len())?;
        out.push(Section {
            id,
            whole: begin..end,
            contents: pos..end,
        });
        pos = end;
    }
    Some(out)
}

/// An export section, read.
#[derive(Default)]
struct Exports<'a> {
    count: u32,
    /// The bytes of its entries, as they are.
    entries: &'a [u8],
    names: Vec<&'a [u8]>,
}

fn read_exports(wasm: &[u8], contents: std::ops::Range<usize>) -> Option<Exports<'_>> {
    let mut pos = contents.start;
    let count = leb_u32(wasm, &mut pos)?;
    let entries_start = pos;
    let mut names = Vec::new();
    for _ in 0..count {
        let len = usize::try_from(leb_u32(wasm, &mut pos)?).ok()?;
        let end = pos.checked_add(len).filter(|&e| e <= contents.end)?;
        names.push(&wasm[pos..end]);
        pos = end;
        // The kind, then the index.
        pos += 1;
        if pos > contents.end {
            return None;
        }
        leb_u32(wasm, &mut pos)?;
    }
    if pos != contents.end {
        return None;
    }
    Some(Exports {
        count,
        entries: &wasm[entries_start..pos],
        names,
    })
}

fn unique_name(names: &[&[u8]]) -> String {
    let taken = |n: &str| names.contains(&n.as_bytes());
    let mut name = START_EXPORT.to_string();
    let mut n = 0u32;
    while taken(&name) {
        n += 1;
        name = format!("{START_EXPORT}-{n}");
    }
    name
}

/// An unsigned LEB128 `u32` at `*pos`, advancing `*pos` past it.
fn leb_u32(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        let bits = u32::from(byte & 0x7f);
        if i == 4 && bits > 0x0f {
            return None;
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports_of(wasm: &[u8]) -> Vec<String> {
        let sections = sections(wasm).unwrap();
        let Some(s) = sections.iter().find(|s| s.id == EXPORT_SECTION) else {
            return Vec::new();
        };
        read_exports(wasm, s.contents.clone())
            .unwrap()
            .names
            .iter()
            .map(|n| String::from_utf8(n.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_module_without_a_start_function_is_left_alone() {
        let wasm = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        assert!(split_start(&wasm).is_none());
    }

    #[test]
    fn the_start_function_becomes_an_export_with_a_name_of_its_own() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "host" "f" (func))
                 (memory 1)
                 (func $start)
                 (export "cohost:start" (memory 0))
                 (start $start))"#,
        )
        .unwrap();
        let split = split_start(&wasm).unwrap();
        assert_eq!(split.start_export, "cohost:start-1");
        assert_eq!(exports_of(&split.wasm), ["cohost:start", "cohost:start-1"]);
        assert!(
            !sections(&split.wasm)
                .unwrap()
                .iter()
                .any(|s| s.id == START_SECTION)
        );
    }

    #[test]
    fn a_module_with_no_exports_gets_an_export_section() {
        let wasm = wat::parse_str(
            r#"(module (global (mut i32) (i32.const 0)) (func $s) (start $s) (func $after))"#,
        )
        .unwrap();
        let split = split_start(&wasm).unwrap();
        assert_eq!(exports_of(&split.wasm), ["cohost:start"]);
        wasmi::Module::new(&wasmi::Engine::default(), &split.wasm).unwrap();
    }

    #[test]
    fn unreadable_modules_are_left_alone() {
        let wasm = wat::parse_str(r#"(module (func $s) (start $s))"#).unwrap();
        for cut in 0..wasm.len() {
            // Never a panic; a cut module is either left alone or split.
            let _ = split_start(&wasm[..cut]);
        }
        let mut overrun = wasm.clone();
        overrun.extend_from_slice(&[START_SECTION, 0x7f]);
        assert!(split_start(&overrun).is_none());
    }
}
