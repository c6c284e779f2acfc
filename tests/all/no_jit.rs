//! Proof that the interpreter never makes memory executable, and that
//! `--engine auto` falls back to it where the OS refuses: `cohost` runs in a
//! child process under a seccomp filter on `mmap`, `mprotect` and
//! `pkey_mprotect` asking for `PROT_EXEC` on anonymous memory (file-backed
//! executable mappings stay allowed, so the dynamic loader can map
//! libraries).
//!
//! - kill variant: such a call kills the process (`SIGSYS`). `serve
//!   --engine interp` serves real requests; `request --engine jit` is
//!   killed, so the filter has teeth.
//! - EPERM variant: such a call fails with `EPERM`, as SELinux
//!   `deny_execmem` or a hardened container makes it. `serve` with no
//!   `--engine` (auto) logs why it picked interp and serves; `--engine jit`
//!   exits 1 with one line naming the cause and suggesting `--engine
//!   interp`, and does not call the component invalid.
//!
//! Also here: the interp-only build's dependency tree has no code generator.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::cli::{ServeProcess, cohost, fixture_path};
use crate::http::get;

/// What a call asking for executable anonymous memory gets.
#[derive(Clone, Copy)]
enum OnExec {
    Kill,
    Eperm,
}

fn filter(on_exec: OnExec) -> BpfProgram {
    let arch = match std::env::consts::ARCH {
        "x86_64" => TargetArch::x86_64,
        "aarch64" => TargetArch::aarch64,
        "riscv64" => TargetArch::riscv64,
        other => panic!("no seccomp filter for {other}"),
    };
    let prot_exec = libc::PROT_EXEC as u64;
    let exec = |arg| {
        SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(prot_exec),
            prot_exec,
        )
        .unwrap()
    };
    let anonymous = SeccompCondition::new(
        3,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(libc::MAP_ANONYMOUS as u64),
        libc::MAP_ANONYMOUS as u64,
    )
    .unwrap();
    let mut rules = BTreeMap::new();
    rules.insert(
        libc::SYS_mmap,
        vec![SeccompRule::new(vec![exec(2), anonymous]).unwrap()],
    );
    rules.insert(
        libc::SYS_mprotect,
        vec![SeccompRule::new(vec![exec(2)]).unwrap()],
    );
    rules.insert(
        libc::SYS_pkey_mprotect,
        vec![SeccompRule::new(vec![exec(2)]).unwrap()],
    );
    let action = match on_exec {
        OnExec::Kill => SeccompAction::KillProcess,
        OnExec::Eperm => SeccompAction::Errno(libc::EPERM as u32),
    };
    SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .unwrap()
        .try_into()
        .unwrap()
}

/// `cohost ARGS…` under the filter, installed in the child between fork and
/// exec, so it holds from the first instruction of the binary on.
fn filtered(on_exec: OnExec, args: &[&str]) -> Command {
    let program = filter(on_exec);
    let mut cmd = cohost();
    cmd.args(args);
    // SAFETY: the closure runs in the forked child before exec; it only
    // makes the two system calls `apply_filter` makes (prctl, seccomp) on a
    // program built before the fork, and allocates nothing on success.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || seccompiler::apply_filter(&program).map_err(std::io::Error::other));
    }
    cmd
}

fn serves_the_fixture(s: &ServeProcess) {
    let r = get(s.addr, "/status/201");
    assert_eq!(r.status, 201);
    let r = get(s.addr, "/stream/300000");
    assert_eq!(r.body.len(), 300_000);
    assert!(r.complete);
    for _ in 0..20 {
        assert_eq!(get(s.addr, "/status/200").status, 200);
    }
}

#[test]
fn interp_serves_where_executable_memory_kills() {
    let wasm = fixture_path("rust-http.wasm");
    let mut cmd = filtered(OnExec::Kill, &[]);
    cmd.args(["serve", "--engine", "interp", "--addr", "127.0.0.1:0"])
        .arg(&wasm);
    let s = ServeProcess::spawn(cmd, "interp");
    serves_the_fixture(&s);
}

/// The filter has teeth: wasmtime compiling a module (in this test binary,
/// re-run as a child under the filter: no probe first) is killed, and so is
/// `cohost request --engine jit` (its probe asks first).
#[test]
fn the_filter_has_teeth_the_jit_is_killed() {
    let program = filter(OnExec::Kill);
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "no_jit::jit_compiles",
            "--ignored",
            "--nocapture",
        ])
        .env("COHOST_JIT_CHILD", "1");
    // SAFETY: as in `filtered`.
    #[allow(unsafe_code)]
    unsafe {
        child.pre_exec(move || seccompiler::apply_filter(&program).map_err(std::io::Error::other));
    }
    let out = child.output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSYS),
        "wasmtime under the filter: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );

    let wasm = fixture_path("hello.wasm");
    let out = filtered(OnExec::Kill, &["request", "--no-cache", "--engine", "jit"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSYS),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child of [`the_filter_has_teeth_the_jit_is_killed`]: compile a
/// module on wasmtime. Does nothing unless run as that child.
#[test]
#[ignore = "run by the_filter_has_teeth_the_jit_is_killed, under a seccomp filter"]
fn jit_compiles() {
    if std::env::var_os("COHOST_JIT_CHILD").is_none() {
        return;
    }
    use engine_abi::engine::Engine;
    let engine = crate::jit();
    let module = engine.compile(&wat::parse_str("(module (func (export \"f\")))").unwrap());
    println!("compiled: {}", module.is_ok());
}

#[test]
fn auto_serves_on_interp_where_executable_memory_is_denied() {
    let wasm = fixture_path("rust-http.wasm");
    let mut cmd = filtered(OnExec::Eperm, &[]);
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).arg(&wasm);
    let s = ServeProcess::spawn(cmd, "interp");
    serves_the_fixture(&s);
    let log = s.stderr();
    assert!(
        log.contains("engine: interp (executable memory denied: EPERM)"),
        "{log}"
    );
}

#[test]
fn jit_where_executable_memory_is_denied_is_a_clear_error() {
    let wasm = fixture_path("hello.wasm");
    let out = filtered(OnExec::Eperm, &["serve", "--engine", "jit"])
        .arg(&wasm)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("EPERM"), "{stderr}");
    assert!(stderr.contains("--engine interp"), "{stderr}");
    assert!(!stderr.contains("invalid"), "{stderr}");

    let out = filtered(OnExec::Eperm, &["engines"]).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("unusable here (executable memory denied: EPERM)"),
        "{report}"
    );
    assert!(report.contains("auto    -> interp"), "{report}");
}

/// What a build with `--no-default-features --features interp` links: no
/// wasmtime, no Cranelift, no other code generator.
#[test]
fn the_interp_only_build_has_no_code_generator() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "-p",
            "cohost",
            "--no-default-features",
            "--features",
            "interp",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("wasmi v2"), "{tree}");
    for generator in ["wasmtime", "cranelift", "winch", "pulley", "llvm", "dynasm"] {
        let found: Vec<&str> = tree.lines().filter(|l| l.contains(generator)).collect();
        assert!(
            found.is_empty(),
            "{generator} in the interp-only build: {found:?}"
        );
    }
}
