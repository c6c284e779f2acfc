//! `cohost wast`: run component-model `.wast` scripts on any engine.
//!
//! The `wast` crate parses the script; each component is loaded, linked
//! (against the host environment component suites expect, see [`host`])
//! and instantiated with cohost's own component
//! model, in a fresh store, and `invoke`s go through the canonical ABI with
//! dynamic [`Val`]s. Every directive either passes or becomes a [`Failure`]
//! naming its line, what was expected and what happened: an unknown or
//! unsupported directive, a malformed script, even a panic in the host is a
//! failure, never a crash of the runner.
//!
//! Supported: `component` (also `component definition` and `component
//! instance`), `invoke`, `assert_return`, `assert_trap` (of an invocation or
//! of an instantiation), `assert_exhaustion`, `assert_invalid`,
//! `assert_malformed`, `assert_unlinkable`. Values are component values
//! (`(u32.const 1)`, `(str.const "x")`, `(record.const (field "a" u8.const
//! 1))`…); `f32.const`/`f64.const` at the top level, which the `wast` crate
//! parses as core values, are accepted for `f32`/`f64`, as are `i32.const`
//! and `i64.const` for 32- and 64-bit integers. Functions of an exported
//! instance are invoked as `"interface#name"`.
//!
//! Floats compare by bits, except that any NaN matches any NaN (the
//! canonical ABI canonicalises NaNs when lifting). A trap matches when its
//! message contains the expected text; so do the errors of
//! `assert_invalid`, `assert_malformed` and `assert_unlinkable`.

// By path: `tests/all/wast.rs` compiles this file by path too.
#[path = "wast/host.rs"]
mod host;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use engine_abi::abi::Val;
use engine_abi::engine::{Engine, StoreLimits};
use engine_abi::types::{FuncType, Type};
use engine_abi::{Component, Error, Instance, Linker, Store};
use wast::component::WastVal;
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::token::{Id, Span};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// The outcome of running one script.
#[derive(Debug, Default)]
pub struct Report {
    /// How many directives passed.
    pub passed: usize,
    /// The directives that failed, in order.
    pub failed: Vec<Failure>,
}

impl Report {
    /// Add `other`'s counts and failures to this report.
    pub fn merge(&mut self, other: Report) {
        self.passed += other.passed;
        self.failed.extend(other.failed);
    }
}

/// A directive that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The script's path, as given.
    pub file: String,
    /// The directive's line, from 1.
    pub line: usize,
    /// What the directive expected.
    pub expected: String,
    /// What happened instead.
    pub got: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: expected {}, got {}",
            self.file, self.line, self.expected, self.got
        )
    }
}

/// How scripts run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Largest linear memory of a script's instances, in bytes. `None`:
    /// what a 32-bit memory addresses (4 GiB), as other runners allow, so
    /// that tests of maximal lengths run.
    pub memory_limit: Option<usize>,
}

/// Run the script at `path` on `engine` with `options`. A file that cannot
/// be read or parsed is reported as one failure.
pub fn run_file<E: Engine>(engine: &E, path: &Path, options: Options) -> Report {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => run_str(engine, &file, &text, options),
            Err(_) => Report::failure(&file, 1, "a UTF-8 .wast file", "invalid UTF-8"),
        },
        Err(e) => Report::failure(&file, 1, "a readable .wast file", &e.to_string()),
    }
}

/// Run the script `text` with `options`, reporting failures against `file`.
pub fn run_str<E: Engine>(engine: &E, file: &str, text: &str, options: Options) -> Report {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Report::failure(file, 1, "a tokio runtime", &e.to_string()),
    };
    let buf = match ParseBuffer::new(text) {
        Ok(buf) => buf,
        Err(e) => return Report::parse_error(file, text, e),
    };
    let script = match parser::parse::<Wast<'_>>(&buf) {
        Ok(script) => script,
        Err(e) => return Report::parse_error(file, text, e),
    };
    let mut runner = Runner {
        engine,
        options,
        file,
        text,
        runtime,
        current: None,
        named: HashMap::new(),
        unnamed: 0,
        definitions: HashMap::new(),
        linker: host::linker(),
        report: Report::default(),
    };
    for directive in script.directives {
        runner.directive(directive);
    }
    runner.report
}

impl Report {
    fn failure(file: &str, line: usize, expected: &str, got: &str) -> Report {
        Report {
            passed: 0,
            failed: vec![Failure {
                file: file.to_string(),
                line,
                expected: expected.to_string(),
                got: got.to_string(),
            }],
        }
    }

    fn parse_error(file: &str, text: &str, e: wast::Error) -> Report {
        let (line, _) = e.span().linecol_in(text);
        Report::failure(file, line + 1, "a well-formed .wast script", &e.message())
    }
}

/// An instantiated component and the store it lives in.
struct Live<E: Engine> {
    store: Store<E, ()>,
    instance: Instance,
}

struct Runner<'a, E: Engine> {
    engine: &'a E,
    options: Options,
    file: &'a str,
    text: &'a str,
    runtime: tokio::runtime::Runtime,
    /// The instance `invoke` without a name refers to: the latest one.
    current: Option<String>,
    /// Every named instance, and the current one if unnamed.
    named: HashMap<String, Live<E>>,
    /// How many instances were made, for unique keys.
    unnamed: usize,
    /// `component definition`s, by name (`None`: the latest unnamed one).
    definitions: HashMap<Option<String>, Component<E>>,
    /// What every component is linked against (see [`host`]).
    linker: Linker<()>,
    report: Report,
}

/// Why a directive failed: what was expected and what happened.
struct Fail {
    expected: String,
    got: String,
}

fn fail(expected: impl Into<String>, got: impl Into<String>) -> Fail {
    Fail {
        expected: expected.into(),
        got: got.into(),
    }
}

type Outcome = Result<(), Fail>;

/// What an action produced.
enum Action {
    Returned(Option<Val>),
    Failed(Error),
}

impl<'a, E: Engine> Runner<'a, E> {
    fn line(&self, span: Span) -> usize {
        span.linecol_in(self.text).0 + 1
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        let line = self.line(directive.span());
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| self.run(directive))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                // The store may be half-updated: forget the current instance.
                self.clear_current();
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                Err(fail("no panic", format!("panic: {msg}")))
            }
        };
        match outcome {
            Ok(()) => self.report.passed += 1,
            Err(f) => self.report.failed.push(Failure {
                file: self.file.to_string(),
                line,
                expected: f.expected,
                got: f.got,
            }),
        }
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    fn run(&mut self, directive: WastDirective<'_>) -> Outcome {
        match directive {
            WastDirective::Module(mut wat) => {
                // Until this component is live, `invoke` has no instance to
                // fall back on: never the previous one.
                self.clear_current();
                let name = wat.name().map(|id| id.name().to_string());
                let component = self.load(&mut wat)?;
                let live = self
                    .instantiate(&component)
                    .map_err(|e| fail(INSTANTIATED, describe(&e)))?;
                self.set_current(name, live);
                Ok(())
            }
            WastDirective::ModuleDefinition(mut wat) => {
                let name = wat.name().map(|id| id.name().to_string());
                let component = self.load(&mut wat)?;
                self.definitions.insert(name, component);
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                self.clear_current();
                let key = module.map(|id| id.name().to_string());
                let Some(component) = self.definitions.get(&key).cloned() else {
                    return Err(fail(
                        format!("a component definition {}", show_id(module)),
                        "none",
                    ));
                };
                let live = self
                    .instantiate(&component)
                    .map_err(|e| fail(INSTANTIATED, describe(&e)))?;
                self.set_current(instance.map(|id| id.name().to_string()), live);
                Ok(())
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke)? {
                Action::Returned(_) => Ok(()),
                Action::Failed(e) => Err(fail("the call to return", describe(&e))),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let got = match exec {
                    WastExecute::Invoke(invoke) => self.invoke(&invoke)?,
                    WastExecute::Wat(wat) => match self.instantiate_wat(wat)? {
                        Ok(()) => Action::Returned(None),
                        Err(e) => Action::Failed(e),
                    },
                    WastExecute::Get { .. } => {
                        return Err(unsupported("`get` (components have no globals)"));
                    }
                };
                match got {
                    Action::Returned(val) => check_results(&results, val.as_ref()),
                    Action::Failed(e) => Err(fail(show_rets(&results), describe(&e))),
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let got = match exec {
                    WastExecute::Invoke(invoke) => self.invoke(&invoke)?,
                    WastExecute::Wat(wat) => match self.instantiate_wat(wat)? {
                        Ok(()) => Action::Returned(None),
                        Err(e) => Action::Failed(e),
                    },
                    WastExecute::Get { .. } => {
                        return Err(unsupported("`get` (components have no globals)"));
                    }
                };
                expect_trap(got, message)
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                let got = self.invoke(&call)?;
                expect_trap(got, message)
            }
            WastDirective::AssertInvalid {
                module, message, ..
            } => self.expect_rejected(module, message, "invalid"),
            WastDirective::AssertMalformed {
                module, message, ..
            } => self.expect_rejected(module, message, "malformed"),
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => {
                let component = self.load(&mut QuoteWat::Wat(module))?;
                match self.instantiate(&component) {
                    Ok(_) => Err(fail(
                        format!("a link error containing {message:?}"),
                        "instantiation succeeded",
                    )),
                    Err(e) if e.is_trap() => Err(fail(
                        format!("a link error containing {message:?}"),
                        describe(&e),
                    )),
                    Err(e) => expect_message(&e, message, "a link error"),
                }
            }
            WastDirective::Register { .. } => Err(unsupported(
                "`register` (this runner links components against no host definitions)",
            )),
            WastDirective::AssertInvalidCustom { .. } => {
                Err(unsupported("`assert_invalid_custom`"))
            }
            WastDirective::AssertMalformedCustom { .. } => {
                Err(unsupported("`assert_malformed_custom`"))
            }
            WastDirective::AssertException { .. } => Err(unsupported("`assert_exception`")),
            WastDirective::AssertSuspension { .. } => Err(unsupported("`assert_suspension`")),
            WastDirective::Thread(_) => Err(unsupported("`thread`")),
            WastDirective::Wait { .. } => Err(unsupported("`wait`")),
        }
    }

    /// No current instance. An unnamed instance lives under a key no `$id`
    /// can spell only while it is the current one: after that nothing can
    /// reach it, so it is dropped.
    fn clear_current(&mut self) {
        if let Some(old) = self.current.take().filter(|k| k.starts_with('#')) {
            self.named.remove(&old);
        }
    }

    fn set_current(&mut self, name: Option<String>, live: Live<E>) {
        self.clear_current();
        self.unnamed += 1;
        let key = name.unwrap_or_else(|| format!("#{}", self.unnamed));
        self.named.insert(key.clone(), live);
        self.current = Some(key);
    }

    /// Encode and load a component.
    fn load(&self, wat: &mut QuoteWat<'_>) -> Result<Component<E>, Fail> {
        let bytes = wat
            .encode()
            .map_err(|e| fail("a component that encodes", e.message()))?;
        if is_core_module(&bytes) {
            return Err(unsupported(
                "a core module at the top level (this runner runs components)",
            ));
        }
        Component::new(self.engine, &bytes).map_err(|e| fail("the component to load", describe(&e)))
    }

    fn instantiate(&self, component: &Component<E>) -> Result<Live<E>, Error> {
        let limits = StoreLimits {
            max_memory_bytes: self.options.memory_limit.unwrap_or(usize::MAX),
            ..StoreLimits::default()
        };
        let mut store = Store::with_limits(self.engine, (), limits);
        let instance = self.block_on(self.linker.instantiate(&mut store, component))?;
        Ok(Live { store, instance })
    }

    /// Load and instantiate a component given inline in an `assert_*`: a
    /// component that does not load fails the directive; the outcome of the
    /// instantiation is for the directive to judge.
    fn instantiate_wat(&self, wat: Wat<'_>) -> Result<Result<(), Error>, Fail> {
        let component = self.load(&mut QuoteWat::Wat(wat))?;
        Ok(self.instantiate(&component).map(|_| ()))
    }

    fn expect_rejected(&self, mut module: QuoteWat<'_>, message: &str, what: &str) -> Outcome {
        let expected = format!("the component to be rejected as {what} ({message:?})");
        let bytes = match module.encode() {
            Ok(bytes) => bytes,
            // Text that does not even parse is malformed, whatever the
            // directive says; check the message all the same.
            Err(e) => {
                let msg = e.message();
                return if msg.contains(message) {
                    Ok(())
                } else {
                    Err(fail(expected, format!("text error: {msg}")))
                };
            }
        };
        if is_core_module(&bytes) {
            return Err(unsupported("a core module (this runner runs components)"));
        }
        match Component::new(self.engine, &bytes) {
            Ok(_) => Err(fail(expected, "the component loaded")),
            Err(e) => expect_message(
                &e,
                message,
                &format!("the component to be rejected as {what}"),
            ),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Action, Fail> {
        let key = match invoke.module {
            Some(id) => id.name().to_string(),
            None => match &self.current {
                Some(key) => key.clone(),
                None => return Err(fail("an instance to invoke", "no instance")),
            },
        };
        let runtime = &self.runtime;
        let Some(live) = self.named.get_mut(&key) else {
            return Err(fail(
                format!("an instance {}", show_id(invoke.module)),
                "none",
            ));
        };
        let Some(func) = live.instance.func(&live.store, invoke.name) else {
            return Err(fail(
                format!("an exported function {:?}", invoke.name),
                "no such function",
            ));
        };
        let args = convert_args(func.ty(), &invoke.args)?;
        Ok(match runtime.block_on(func.call(&mut live.store, &args)) {
            Ok(v) => Action::Returned(v),
            Err(e) => Action::Failed(e),
        })
    }
}

const INSTANTIATED: &str = "instantiation to succeed";

fn unsupported(what: &str) -> Fail {
    fail("a supported directive", format!("unsupported: {what}"))
}

fn show_id(id: Option<Id<'_>>) -> String {
    match id {
        Some(id) => format!("${}", id.name()),
        None => "(unnamed)".to_string(),
    }
}

fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[4..8] == [1, 0, 0, 0]
}

/// An error as the report shows it: a trap's message, or the error's kind
/// and message.
fn describe(e: &Error) -> String {
    match e.trap() {
        Some(t) => format!("trap: {}", t.message()),
        None => format!("{:?} error: {}", e.kind(), e.message()),
    }
}

fn expect_trap(got: Action, message: &str) -> Outcome {
    let expected = format!("a trap containing {message:?}");
    match got {
        Action::Returned(v) => Err(fail(
            expected,
            format!("returned {}", show_opt_val(v.as_ref())),
        )),
        Action::Failed(e) => match e.trap() {
            Some(t) if t.message().contains(message) => Ok(()),
            _ => Err(fail(expected, describe(&e))),
        },
    }
}

fn expect_message(e: &Error, message: &str, what: &str) -> Outcome {
    if e.message().contains(message) {
        Ok(())
    } else {
        Err(fail(format!("{what} containing {message:?}"), describe(e)))
    }
}

// ---- arguments: wast values to `Val`s, guided by the parameter types

fn convert_args(ty: &FuncType, args: &[WastArg<'_>]) -> Result<Vec<Val>, Fail> {
    let params = ty.params();
    if params.len() != args.len() {
        return Err(fail(
            format!("{} argument(s) for {ty}", params.len()),
            format!("{} argument(s)", args.len()),
        ));
    }
    params
        .iter()
        .zip(args)
        .map(|((name, ty), arg)| {
            convert_arg(ty, arg).map_err(|got| fail(format!("a `{ty}` value for `{name}`"), got))
        })
        .collect()
}

fn convert_arg(ty: &Type, arg: &WastArg<'_>) -> Result<Val, String> {
    match arg {
        WastArg::Component(v) => to_val(ty, v),
        WastArg::Core(core) => match (ty, core) {
            (Type::F32, WastArgCore::F32(f)) => Ok(Val::F32(f32::from_bits(f.bits))),
            (Type::F64, WastArgCore::F64(f)) => Ok(Val::F64(f64::from_bits(f.bits))),
            (Type::S32, WastArgCore::I32(i)) => Ok(Val::S32(*i)),
            (Type::U32, WastArgCore::I32(i)) => Ok(Val::U32(*i as u32)),
            (Type::S64, WastArgCore::I64(i)) => Ok(Val::S64(*i)),
            (Type::U64, WastArgCore::I64(i)) => Ok(Val::U64(*i as u64)),
            (_, other) => Err(format!("the core value {other:?}")),
        },
        _ => Err("an unsupported kind of argument".to_string()),
    }
}

fn to_val(ty: &Type, v: &WastVal<'_>) -> Result<Val, String> {
    use WastVal as W;
    Ok(match (ty, v) {
        (Type::Bool, W::Bool(b)) => Val::Bool(*b),
        (Type::S8, W::S8(x)) => Val::S8(*x),
        (Type::U8, W::U8(x)) => Val::U8(*x),
        (Type::S16, W::S16(x)) => Val::S16(*x),
        (Type::U16, W::U16(x)) => Val::U16(*x),
        (Type::S32, W::S32(x)) => Val::S32(*x),
        (Type::U32, W::U32(x)) => Val::U32(*x),
        (Type::S64, W::S64(x)) => Val::S64(*x),
        (Type::U64, W::U64(x)) => Val::U64(*x),
        (Type::F32, W::F32(f)) => Val::F32(f32::from_bits(f.bits)),
        (Type::F64, W::F64(f)) => Val::F64(f64::from_bits(f.bits)),
        (Type::Char, W::Char(c)) => Val::Char(*c),
        (Type::String, W::String(s)) => Val::String(s.to_string()),
        (Type::List(l), W::List(items)) => Val::List(
            items
                .iter()
                .map(|i| to_val(l.elem(), i))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Record(r), W::Record(fields)) => {
            let want = r.fields();
            if want.len() != fields.len()
                || want.iter().zip(fields).any(|((a, _), (b, _))| &**a != *b)
            {
                return Err(format!("record {}", show_wast(v)));
            }
            Val::Record(
                want.iter()
                    .zip(fields)
                    .map(|((n, t), (_, v))| Ok((n.to_string(), to_val(t, v)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
        (Type::Tuple(t), W::Tuple(items)) if t.types().len() == items.len() => Val::Tuple(
            t.types()
                .iter()
                .zip(items)
                .map(|(t, v)| to_val(t, v))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Variant(var), W::Variant(case, payload)) => {
            let Some((_, case_ty)) = var.cases().iter().find(|(n, _)| &**n == *case) else {
                return Err(format!("unknown case {case:?}"));
            };
            Val::Variant(
                case.to_string(),
                payload_val(case_ty.as_ref(), payload.as_deref())?,
            )
        }
        (Type::Enum(e), W::Enum(case)) => {
            if !e.names().iter().any(|n| &**n == *case) {
                return Err(format!("unknown case {case:?}"));
            }
            Val::Enum(case.to_string())
        }
        (Type::Option(o), W::Option(x)) => Val::Option(match x {
            Some(x) => Some(Box::new(to_val(o.some(), x)?)),
            None => None,
        }),
        (Type::Result(r), W::Result(x)) => Val::Result(match x {
            Ok(p) => Ok(payload_val(r.ok(), p.as_deref())?),
            Err(p) => Err(payload_val(r.err(), p.as_deref())?),
        }),
        (Type::Flags(f), W::Flags(names)) => {
            for n in names {
                if !f.names().iter().any(|m| &**m == *n) {
                    return Err(format!("unknown flag {n:?}"));
                }
            }
            Val::Flags(names.iter().map(|n| n.to_string()).collect())
        }
        (Type::Own(_) | Type::Borrow(_), _) => {
            return Err("a resource (no wast value spells one)".to_string());
        }
        _ => return Err(show_wast(v)),
    })
}

fn payload_val(ty: Option<&Type>, v: Option<&WastVal<'_>>) -> Result<Option<Box<Val>>, String> {
    match (ty, v) {
        (None, None) => Ok(None),
        (Some(t), Some(v)) => Ok(Some(Box::new(to_val(t, v)?))),
        (Some(_), None) => Err("a case without its payload".to_string()),
        (None, Some(v)) => Err(format!("a payload {} for a case without one", show_wast(v))),
    }
}

// ---- results: compare what came back with the expected wast values

fn check_results(expected: &[WastRet<'_>], got: Option<&Val>) -> Outcome {
    let ok = match (expected, got) {
        ([], None) => true,
        ([e], Some(v)) => ret_matches(e, v),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(fail(show_rets(expected), show_opt_val(got)))
    }
}

fn ret_matches(expected: &WastRet<'_>, got: &Val) -> bool {
    match expected {
        WastRet::Component(e) => matches(e, got),
        WastRet::Core(core) => match (core, got) {
            (WastRetCore::F32(p), Val::F32(f)) => match p {
                NanPattern::CanonicalNan | NanPattern::ArithmeticNan => f.is_nan(),
                NanPattern::Value(e) => f32_eq(e.bits, *f),
            },
            (WastRetCore::F64(p), Val::F64(f)) => match p {
                NanPattern::CanonicalNan | NanPattern::ArithmeticNan => f.is_nan(),
                NanPattern::Value(e) => f64_eq(e.bits, *f),
            },
            (WastRetCore::I32(e), Val::S32(g)) => e == g,
            (WastRetCore::I32(e), Val::U32(g)) => *e as u32 == *g,
            (WastRetCore::I64(e), Val::S64(g)) => e == g,
            (WastRetCore::I64(e), Val::U64(g)) => *e as u64 == *g,
            _ => false,
        },
        _ => false,
    }
}

fn f32_eq(bits: u32, got: f32) -> bool {
    let e = f32::from_bits(bits);
    (e.is_nan() && got.is_nan()) || bits == got.to_bits()
}

fn f64_eq(bits: u64, got: f64) -> bool {
    let e = f64::from_bits(bits);
    (e.is_nan() && got.is_nan()) || bits == got.to_bits()
}

fn matches(e: &WastVal<'_>, g: &Val) -> bool {
    use WastVal as W;
    match (e, g) {
        (W::Bool(a), Val::Bool(b)) => a == b,
        (W::S8(a), Val::S8(b)) => a == b,
        (W::U8(a), Val::U8(b)) => a == b,
        (W::S16(a), Val::S16(b)) => a == b,
        (W::U16(a), Val::U16(b)) => a == b,
        (W::S32(a), Val::S32(b)) => a == b,
        (W::U32(a), Val::U32(b)) => a == b,
        (W::S64(a), Val::S64(b)) => a == b,
        (W::U64(a), Val::U64(b)) => a == b,
        (W::F32(a), Val::F32(b)) => f32_eq(a.bits, *b),
        (W::F64(a), Val::F64(b)) => f64_eq(a.bits, *b),
        (W::Char(a), Val::Char(b)) => a == b,
        (W::String(a), Val::String(b)) => *a == b,
        (W::List(a), Val::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| matches(a, b))
        }
        (W::List(a), Val::Bytes(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(a, b)| matches!(a, W::U8(x) if x == b))
        }
        (W::Record(a), Val::Record(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((an, av), (bn, bv))| an == bn && matches(av, bv))
        }
        (W::Tuple(a), Val::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| matches(a, b))
        }
        (W::Variant(an, ap), Val::Variant(bn, bp)) => {
            an == bn && payload_matches(ap.as_deref(), bp.as_deref())
        }
        (W::Enum(a), Val::Enum(b)) => a == b,
        (W::Option(a), Val::Option(b)) => payload_matches(a.as_deref(), b.as_deref()),
        (W::Result(Ok(a)), Val::Result(Ok(b))) | (W::Result(Err(a)), Val::Result(Err(b))) => {
            payload_matches(a.as_deref(), b.as_deref())
        }
        (W::Flags(a), Val::Flags(b)) => {
            let mut a: Vec<&str> = a.to_vec();
            let mut b: Vec<&str> = b.iter().map(String::as_str).collect();
            a.sort_unstable();
            a.dedup();
            b.sort_unstable();
            b.dedup();
            a == b
        }
        _ => false,
    }
}

fn payload_matches(e: Option<&WastVal<'_>>, g: Option<&Val>) -> bool {
    match (e, g) {
        (None, None) => true,
        (Some(e), Some(g)) => matches(e, g),
        _ => false,
    }
}

// ---- showing values in wast syntax

fn show_rets(rets: &[WastRet<'_>]) -> String {
    if rets.is_empty() {
        return "no result".to_string();
    }
    rets.iter()
        .map(|r| match r {
            WastRet::Component(v) => show_wast(v),
            WastRet::Core(c) => show_core_ret(c),
            _ => "(unsupported value)".to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_core_ret(c: &WastRetCore<'_>) -> String {
    fn nan<T>(p: &NanPattern<T>, show: impl Fn(&T) -> String) -> String {
        match p {
            NanPattern::CanonicalNan => "nan:canonical".to_string(),
            NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
            NanPattern::Value(v) => show(v),
        }
    }
    match c {
        WastRetCore::I32(i) => format!("(i32.const {i})"),
        WastRetCore::I64(i) => format!("(i64.const {i})"),
        WastRetCore::F32(p) => format!(
            "(f32.const {})",
            nan(p, |f| show_f32(f32::from_bits(f.bits)))
        ),
        WastRetCore::F64(p) => format!(
            "(f64.const {})",
            nan(p, |f| show_f64(f64::from_bits(f.bits)))
        ),
        other => format!("{other:?}"),
    }
}

fn show_f32(f: f32) -> String {
    if f.is_nan() {
        format!("nan:{:#x}", f.to_bits() & 0x7f_ffff)
    } else {
        format!("{f:?}")
    }
}

fn show_f64(f: f64) -> String {
    if f.is_nan() {
        format!("nan:{:#x}", f.to_bits() & 0xf_ffff_ffff_ffff)
    } else {
        format!("{f:?}")
    }
}

fn show_wast(v: &WastVal<'_>) -> String {
    use WastVal as W;
    let mut s = String::new();
    let _ = match v {
        W::Bool(b) => write!(s, "(bool.const {b})"),
        W::S8(x) => write!(s, "(s8.const {x})"),
        W::U8(x) => write!(s, "(u8.const {x})"),
        W::S16(x) => write!(s, "(s16.const {x})"),
        W::U16(x) => write!(s, "(u16.const {x})"),
        W::S32(x) => write!(s, "(s32.const {x})"),
        W::U32(x) => write!(s, "(u32.const {x})"),
        W::S64(x) => write!(s, "(s64.const {x})"),
        W::U64(x) => write!(s, "(u64.const {x})"),
        W::F32(f) => write!(s, "(f32.const {})", show_f32(f32::from_bits(f.bits))),
        W::F64(f) => write!(s, "(f64.const {})", show_f64(f64::from_bits(f.bits))),
        W::Char(c) => write!(s, "(char.const {:?})", c.to_string()),
        W::String(x) => write!(s, "(str.const {x:?})"),
        W::List(items) => write!(s, "(list.const{})", spaced(items.iter().map(show_wast))),
        W::Record(fields) => write!(
            s,
            "(record.const{})",
            spaced(
                fields
                    .iter()
                    .map(|(n, v)| format!("(field {n:?} {})", strip(&show_wast(v))))
            )
        ),
        W::Tuple(items) => write!(s, "(tuple.const{})", spaced(items.iter().map(show_wast))),
        W::Variant(n, p) => write!(
            s,
            "(variant.const {n:?}{})",
            spaced(p.iter().map(|v| show_wast(v)))
        ),
        W::Enum(n) => write!(s, "(enum.const {n:?})"),
        W::Option(None) => write!(s, "(option.none)"),
        W::Option(Some(v)) => write!(s, "(option.some {})", show_wast(v)),
        W::Result(Ok(p)) => write!(s, "(result.ok{})", spaced(p.iter().map(|v| show_wast(v)))),
        W::Result(Err(p)) => write!(s, "(result.err{})", spaced(p.iter().map(|v| show_wast(v)))),
        W::Flags(names) => write!(
            s,
            "(flags.const{})",
            spaced(names.iter().map(|n| format!("{n:?}")))
        ),
    };
    s
}

fn show_opt_val(v: Option<&Val>) -> String {
    match v {
        Some(v) => show_val(v),
        None => "no result".to_string(),
    }
}

fn show_val(v: &Val) -> String {
    let mut s = String::new();
    let _ = match v {
        Val::Bool(b) => write!(s, "(bool.const {b})"),
        Val::S8(x) => write!(s, "(s8.const {x})"),
        Val::U8(x) => write!(s, "(u8.const {x})"),
        Val::S16(x) => write!(s, "(s16.const {x})"),
        Val::U16(x) => write!(s, "(u16.const {x})"),
        Val::S32(x) => write!(s, "(s32.const {x})"),
        Val::U32(x) => write!(s, "(u32.const {x})"),
        Val::S64(x) => write!(s, "(s64.const {x})"),
        Val::U64(x) => write!(s, "(u64.const {x})"),
        Val::F32(f) => write!(s, "(f32.const {})", show_f32(*f)),
        Val::F64(f) => write!(s, "(f64.const {})", show_f64(*f)),
        Val::Char(c) => write!(s, "(char.const {:?})", c.to_string()),
        Val::String(x) => write!(s, "(str.const {x:?})"),
        Val::List(items) => write!(s, "(list.const{})", spaced(items.iter().map(show_val))),
        Val::Bytes(bytes) => write!(
            s,
            "(list.const{})",
            spaced(bytes.iter().map(|b| format!("(u8.const {b})")))
        ),
        Val::Record(fields) => write!(
            s,
            "(record.const{})",
            spaced(
                fields
                    .iter()
                    .map(|(n, v)| format!("(field {n:?} {})", strip(&show_val(v))))
            )
        ),
        Val::Tuple(items) => write!(s, "(tuple.const{})", spaced(items.iter().map(show_val))),
        Val::Variant(n, p) => write!(
            s,
            "(variant.const {n:?}{})",
            spaced(p.iter().map(|v| show_val(v)))
        ),
        Val::Enum(n) => write!(s, "(enum.const {n:?})"),
        Val::Option(None) => write!(s, "(option.none)"),
        Val::Option(Some(v)) => write!(s, "(option.some {})", show_val(v)),
        Val::Result(Ok(p)) => write!(s, "(result.ok{})", spaced(p.iter().map(|v| show_val(v)))),
        Val::Result(Err(p)) => write!(s, "(result.err{})", spaced(p.iter().map(|v| show_val(v)))),
        Val::Flags(names) => write!(
            s,
            "(flags.const{})",
            spaced(names.iter().map(|n| format!("{n:?}")))
        ),
        Val::Own(r) => write!(s, "(own {} rep {})", r.ty.name(), r.rep),
        Val::Borrow(r) => write!(s, "(borrow {} rep {})", r.ty.name(), r.rep),
    };
    s
}

/// `(u8.const 1)` → `u8.const 1`, the form of a `record.const` field.
fn strip(s: &str) -> &str {
    s.strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(s)
}

fn spaced(items: impl Iterator<Item = String>) -> String {
    items.map(|i| format!(" {i}")).collect()
}
