//! The component-model conformance suite (`tests/wast/*.wast`) on both
//! engines, and the `.wast` runner's own behaviour: failures are reported
//! with their line, never as a panic, and `cohost wast` prints and exits
//! accordingly.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../../src/wast.rs"]
mod runner;

use runner::{Options, run_file, run_str};

fn suite() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wast");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .wast files in {}", dir.display());
    files
}

/// Run every suite file with `cohost wast --engine ENGINE`, one process per
/// file, so that a file that crashes the host (a native stack overflow is an
/// abort, not a panic) fails alone, and the other files still report.
fn run_suite(engine: &str) {
    let mut passed = 0;
    let mut failures = Vec::new();
    for file in suite() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cohost"))
            .args(["wast", "--engine", engine])
            .arg(&file)
            .output()
            .expect("run cohost wast");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<&str> = stdout.lines().collect();
        let summary = lines.pop().and_then(parse_summary);
        match summary {
            Some((p, f)) if f == lines.len() => {
                eprintln!("{}: {p} passed, {f} failed", file.display());
                passed += p;
                failures.extend(lines.iter().map(|l| l.to_string()));
            }
            _ => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                failures.push(format!(
                    "{}: cohost wast did not finish ({}): {}",
                    file.display(),
                    out.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    eprintln!("{engine}: {passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} directive(s) failed on {engine}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `N passed, M failed`
fn parse_summary(line: &str) -> Option<(usize, usize)> {
    let (p, f) = line.split_once(" passed, ")?;
    Some((p.parse().ok()?, f.strip_suffix(" failed")?.parse().ok()?))
}

#[test]
fn suite_on_jit() {
    run_suite("jit");
}

#[test]
fn suite_on_interp() {
    run_suite("interp");
}

/// The runner sets no memory limit unless asked: `big-memory.wast` grows a
/// memory to 1 GiB; with a 64 MiB limit its `memory.grow` gives -1, on
/// both engines.
#[test]
fn memory_limit_is_the_runners_option() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wast/big-memory.wast");
    let limited = Options {
        memory_limit: Some(64 << 20),
    };
    for report in [
        run_file(&crate::jit(), &file, limited),
        run_file(&crate::interp(), &file, limited),
    ] {
        let first = report.failed.first().expect("the grow fails under 64 MiB");
        assert!(first.got.contains("-1"), "{first}");
    }
}

/// The same files in this process, through the runner's API, on both
/// engines: the counts agree with the command's.
#[test]
fn runner_api_counts_every_directive() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wast/scalars.wast");
    let text = std::fs::read_to_string(&file).expect("read scalars.wast");
    let directives = text.lines().filter(|l| l.starts_with('(')).count();
    for report in [
        run_file(&crate::jit(), &file, Options::default()),
        run_file(&crate::interp(), &file, Options::default()),
    ] {
        assert_eq!(
            report.passed + report.failed.len(),
            directives,
            "{:?}",
            report.failed
        );
    }
}

const ECHO: &str = r#"
(component
  (core module $m (func (export "id") (param i32) (result i32) (local.get 0)))
  (core instance $i (instantiate $m))
  (func (export "echo") (param "x" u32) (result u32) (canon lift (core func $i "id")))
)
"#;

/// A directive the `wast` crate parses but the runner does not support is
/// one failure at its line; the script goes on.
#[test]
fn unsupported_directive_is_reported() {
    let script = format!(
        "{ECHO}\n\
         (register \"echo\")\n\
         (assert_exception (invoke \"echo\" (u32.const 1)))\n\
         (assert_return (invoke \"echo\" (u32.const 7)) (u32.const 7))\n"
    );
    for report in [
        run_str(
            &crate::jit(),
            "unsupported.wast",
            &script,
            Options::default(),
        ),
        run_str(
            &crate::interp(),
            "unsupported.wast",
            &script,
            Options::default(),
        ),
    ] {
        assert_eq!(report.passed, 2, "{:?}", report.failed);
        assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
        assert_eq!(report.failed[0].line, 8);
        assert!(
            report.failed[0].got.contains("register"),
            "{}",
            report.failed[0]
        );
        assert_eq!(report.failed[1].line, 9);
        assert!(
            report.failed[1].got.contains("assert_exception"),
            "{}",
            report.failed[1]
        );
    }
}

/// A directive no runner knows, and a script that does not parse, are
/// reported as a failure of the file, with the line of the problem.
#[test]
fn unknown_directive_and_malformed_script_are_reported() {
    let engine = crate::interp();
    let report = run_str(
        &engine,
        "unknown.wast",
        &format!("{ECHO}\n(assert_frobnicated (invoke \"echo\"))\n"),
        Options::default(),
    );
    assert_eq!(report.passed, 0);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].line, 8, "{}", report.failed[0]);

    let report = run_str(
        &engine,
        "unbalanced.wast",
        "(component\n  (core module $m\n",
        Options::default(),
    );
    assert_eq!(report.passed, 0);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].file, "unbalanced.wast");

    let report = run_str(
        &engine,
        "text.wast",
        "(assert_return (invoke \"f\" (u32.const nope)))",
        Options::default(),
    );
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);

    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wast/no-such-file.wast");
    let report = run_file(&engine, &missing, Options::default());
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
}

/// Wrong results, missing traps, bad arguments and missing functions are
/// failures with what was expected and what happened.
#[test]
fn mismatches_are_reported() {
    let script = format!(
        "{ECHO}\n\
         (assert_return (invoke \"echo\" (u32.const 7)) (u32.const 8))\n\
         (assert_trap (invoke \"echo\" (u32.const 7)) \"unreachable\")\n\
         (assert_return (invoke \"echo\" (str.const \"x\")) (u32.const 7))\n\
         (assert_return (invoke \"echo\") (u32.const 7))\n\
         (assert_return (invoke \"nope\"))\n\
         (assert_return (invoke \"echo\" (u32.const 7)) (u32.const 7))\n"
    );
    for report in [
        run_str(&crate::jit(), "mismatch.wast", &script, Options::default()),
        run_str(
            &crate::interp(),
            "mismatch.wast",
            &script,
            Options::default(),
        ),
    ] {
        assert_eq!(report.passed, 2, "{:?}", report.failed);
        let lines: Vec<usize> = report.failed.iter().map(|f| f.line).collect();
        assert_eq!(lines, [8, 9, 10, 11, 12], "{:?}", report.failed);
        assert_eq!(report.failed[0].expected, "(u32.const 8)");
        assert_eq!(report.failed[0].got, "(u32.const 7)");
        assert!(
            report.failed[1].got.contains("returned (u32.const 7)"),
            "{}",
            report.failed[1]
        );
        assert_eq!(
            report.failed[0].to_string(),
            "mismatch.wast:8: expected (u32.const 8), got (u32.const 7)"
        );
    }
}

/// Without a live instance (none yet, or the last one failed to
/// instantiate), `invoke` fails instead of calling an older instance.
#[test]
fn invoke_needs_a_live_instance() {
    let script = format!(
        "(assert_return (invoke \"echo\" (u32.const 1)) (u32.const 1))\n\
         {ECHO}\n\
         (component (import \"not-provided\" (func)))\n\
         (assert_return (invoke \"echo\" (u32.const 1)) (u32.const 1))\n"
    );
    let report = run_str(&crate::interp(), "live.wast", &script, Options::default());
    let lines: Vec<usize> = report.failed.iter().map(|f| f.line).collect();
    assert_eq!(lines, [1, 9, 10], "{:?}", report.failed);
    assert_eq!(report.passed, 1);
}

/// `cohost wast` prints one line per failure and `N passed, M failed`, and
/// exits non-zero when anything failed.
#[test]
fn cli_prints_failures_and_a_summary() {
    let dir = std::env::temp_dir().join(format!("cohost-wast-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.wast");
    let bad = dir.join("bad.wast");
    std::fs::write(
        &good,
        format!("{ECHO}\n(assert_return (invoke \"echo\" (u32.const 3)) (u32.const 3))\n"),
    )
    .expect("write");
    std::fs::write(
        &bad,
        format!("{ECHO}\n(assert_return (invoke \"echo\" (u32.const 3)) (u32.const 4))\n"),
    )
    .expect("write");

    for engine in ["jit", "interp"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cohost"))
            .args(["wast", "--engine", engine])
            .arg(&good)
            .output()
            .expect("run cohost");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert_eq!(
            stdout.lines().last(),
            Some("2 passed, 0 failed"),
            "{stdout}"
        );

        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cohost"))
            .args(["wast", "--engine", engine])
            .arg(&good)
            .arg(&bad)
            .output()
            .expect("run cohost");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(
            lines[0],
            format!(
                "{}:8: expected (u32.const 4), got (u32.const 3)",
                bad.display()
            )
        );
        assert_eq!(lines[1], "3 passed, 1 failed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
