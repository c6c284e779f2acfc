//! Hostile component bytes: truncated, corrupted and randomly mutated
//! components never panic the host; each is either rejected with an error
//! or, if still valid, instantiates.

use proptest::prelude::*;

use engine_abi::Component;
use engine_abi::engine::Engine;

use crate::{block_on, fixture, interp, jit, stub_linker};

/// Load and instantiate `bytes`; any outcome but a panic is fine.
fn load<E: Engine>(engine: &E, bytes: &[u8]) -> Result<(), String> {
    let component = Component::new(engine, bytes).map_err(|e| e.to_string())?;
    let linker = stub_linker(&component);
    let mut store = engine_abi::Store::new(engine, ());
    block_on(linker.instantiate(&mut store, &component))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The offsets where the root component's sections end: a component cut
/// there is still a (smaller) valid component.
fn section_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![8];
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.unwrap();
        match &payload {
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            }
            | wasmparser::Payload::ComponentSection {
                unchecked_range, ..
            } => {
                if depth == 0 {
                    ends.push(unchecked_range.end);
                }
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth -= 1,
            other => {
                if depth == 0
                    && let Some((_, range)) = other.as_section()
                {
                    ends.push(range.end);
                }
            }
        }
    }
    ends
}

#[test]
fn truncated_components_are_errors() {
    let bytes = fixture("hello.wasm");
    let ends = section_ends(&bytes);
    let engine = interp();
    for cut in 0..bytes.len() {
        let outcome = load(&engine, &bytes[..cut]);
        if ends.contains(&cut) {
            continue;
        }
        let err = outcome.expect_err(&format!(
            "a component cut at {cut} of {} (section ends: {ends:?}) is invalid",
            bytes.len()
        ));
        assert!(
            err.contains("invalid") || err.contains("truncated") || err.contains("not a wasm"),
            "{err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(256), .. ProptestConfig::default() })]

    #[test]
    fn mutated_components_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        which in 0..3usize,
    ) {
        let name = ["hello.wasm", "echo.wasm", "rust-abi.wasm"][which];
        let mut bytes = fixture(name);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let a = load(&interp(), &bytes);
        let b = load(&jit(), &bytes);
        // Both engines agree on whether the component is usable.
        prop_assert_eq!(a.is_ok(), b.is_ok(), "interp: {:?}, jit: {:?}", a, b);
    }
}
