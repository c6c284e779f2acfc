//! The linker of every request: each interface's file registers its own
//! functions and resources ([`crate::wit::Registry`]); what no file
//! implements (the rarer interfaces of `wasi:cli/imports`) traps naming
//! itself. Types come from the WIT ([`crate::wit`]); a function of the
//! proxy world no file registers fails the test
//! `imports::tests::proxy_world_is_fully_implemented`.

use engine_abi::Linker;

use crate::state::State;
use crate::wit::{Registry, Report, wit};
use crate::{body, cli, clocks, fields, io, outgoing, random, types_impl};

/// Register every interface into `linker`, and say what was registered.
pub fn register(linker: &mut Linker<State>) -> Report {
    let mut r = Registry::new(linker, wit());
    io::register(&mut r);
    clocks::register(&mut r);
    random::register(&mut r);
    cli::register(&mut r);
    fields::register(&mut r);
    body::register(&mut r);
    types_impl::register(&mut r);
    outgoing::register(&mut r);
    r.finish()
}

/// The linker every handler uses. A problem in the report is a host bug
/// (the tests check there is none); the function concerned traps saying
/// so, and it is logged here.
pub fn linker() -> Linker<State> {
    let mut linker = Linker::new();
    let report = register(&mut linker);
    tracing::debug!(
        "wasi:http host: {} functions and {} resources implemented",
        report.funcs.len(),
        report.resources.len()
    );
    for problem in &report.problems {
        tracing::error!("host bug in the wasi:http host's imports: {problem}");
    }
    linker
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::wit::{EXTRA_WORLD, PROXY_WORLD, key};

    fn report() -> Report {
        register(&mut Linker::new())
    }

    #[test]
    fn proxy_world_is_fully_implemented() {
        let report = report();
        let (resources, funcs) = wit().imports(PROXY_WORLD);
        assert!(funcs.len() > 80, "only {} functions", funcs.len());
        let missing: Vec<String> = funcs
            .iter()
            .filter(|f| !report.funcs.contains(&key(&f.interface, &f.name)))
            .map(|f| format!("{}#{}", f.interface, f.name))
            .collect();
        assert!(missing.is_empty(), "not implemented: {missing:#?}");
        let unowned: Vec<String> = resources
            .iter()
            .filter(|r| !report.resources.contains(&key(&r.interface, &r.name)))
            .map(|r| format!("{}#{}", r.interface, r.name))
            .collect();
        assert!(unowned.is_empty(), "resources no file owns: {unowned:#?}");
    }

    #[test]
    fn every_implementation_is_a_wit_function_of_its_type() {
        let report = report();
        assert!(report.problems.is_empty(), "{:#?}", report.problems);
        let mut known = HashSet::new();
        for world in [PROXY_WORLD, EXTRA_WORLD] {
            for f in wit().imports(world).1 {
                known.insert(key(&f.interface, &f.name));
            }
        }
        for k in &report.funcs {
            assert!(known.contains(k), "{}#{} is not in the WIT", k.0, k.1);
        }
    }
}
