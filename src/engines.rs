//! The engine registry: which core engines this build has, which one to run
//! on, and running engine-generic code on it. `cohost serve`, `request`
//! and `wast`, the tests, the benchmarks and embedders all choose here.
//!
//! | choice | runs on |
//! |---|---|
//! | [`EngineChoice::Jit`] | wasmtime's JIT (Cranelift), if built in and the OS lets the process make memory executable; an error naming the cause otherwise |
//! | [`EngineChoice::Interp`] | the wasmi interpreter, if built in |
//! | [`EngineChoice::Auto`] (the default) | the JIT where it is built in and allowed, the interpreter otherwise |
//!
//! Whether executable memory is allowed is decided by [`probe`]: map one
//! anonymous page, ask the kernel to make it executable, unmap it. That is
//! what a JIT must do, and what SELinux `deny_execmem`, PaX `MPROTECT`, a
//! seccomp policy or a platform like iOS refuses. The probe runs at most
//! once per process, starts no thread and leaves nothing behind.
//!
//! Adding an engine is one backend crate and one line in [`registry!`]'s
//! invocation.

use std::fmt;
use std::sync::OnceLock;

use engine_abi::Component;
use engine_abi::engine::{Engine, EngineConfig};

/// The registry: one line per engine, in order of preference for
/// [`EngineChoice::Auto`]. Each line names the variant, the cargo feature
/// that builds it in, its CLI name, a description, whether it needs
/// executable memory, its backend's engine type and the function that
/// starts it from an [`EngineConfig`]. Everything below that dispatches on
/// the engine ([`EngineKind`], [`AnyEngine`], [`AnyComponent`]) is generated
/// from these lines, so a third engine is one backend crate and one line.
macro_rules! registry {
    ($(
        $kind:ident: feature $feature:literal, name $name:literal, $description:literal,
        executable memory $needs_exec:literal, $engine:ty, start $start:path;
    )*) => {
        /// An engine this build may contain.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EngineKind {
            $(
                #[doc = $description]
                $kind,
            )*
        }

        impl EngineKind {
            /// Every engine, built in or not, in order of preference.
            pub const ALL: &'static [EngineKind] = &[$(EngineKind::$kind),*];

            /// Its CLI name: `jit`, `interp`.
            pub fn name(self) -> &'static str {
                match self {
                    $(EngineKind::$kind => $name,)*
                }
            }

            /// What runs the guest.
            pub fn description(self) -> &'static str {
                match self {
                    $(EngineKind::$kind => $description,)*
                }
            }

            /// Whether this build contains the engine.
            pub fn built_in(self) -> bool {
                match self {
                    $(EngineKind::$kind => cfg!(feature = $feature),)*
                }
            }

            /// Whether the engine needs executable memory.
            pub fn needs_executable_memory(self) -> bool {
                match self {
                    $(EngineKind::$kind => $needs_exec,)*
                }
            }
        }

        /// What the user asked for: `--engine auto|jit|interp`.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
        pub enum EngineChoice {
            /// The first engine (jit, interp) that is built in and can run
            /// here: the JIT where the OS allows executable memory, the
            /// interpreter otherwise.
            #[default]
            Auto,
            $(
                #[doc = $description]
                #[value(name = $name)]
                $kind,
            )*
        }

        impl EngineChoice {
            /// The engine named, or `None` for [`EngineChoice::Auto`].
            pub fn kind(self) -> Option<EngineKind> {
                match self {
                    EngineChoice::Auto => None,
                    $(EngineChoice::$kind => Some(EngineKind::$kind),)*
                }
            }
        }

        /// An engine of this build.
        #[derive(Clone)]
        pub enum AnyEngine {
            $(
                #[doc = $description]
                #[cfg(feature = $feature)]
                $kind($engine),
            )*
        }

        impl AnyEngine {
            /// Start engine `kind` with `config`.
            pub fn new(kind: EngineKind, config: &EngineConfig) -> Result<AnyEngine, String> {
                match kind {
                    $(
                        #[cfg(feature = $feature)]
                        EngineKind::$kind => $start(config).map(AnyEngine::$kind),
                    )*
                    #[allow(unreachable_patterns)]
                    other => {
                        let _ = config;
                        Err(SelectError::NotBuiltIn(other).to_string())
                    }
                }
            }

            /// Which engine this is.
            pub fn kind(&self) -> EngineKind {
                match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyEngine::$kind(_) => EngineKind::$kind,
                    )*
                }
            }

            /// Run `f` on this engine.
            pub fn run<F: WithEngine>(self, f: F) -> F::Output {
                match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyEngine::$kind(e) => f.run(e),
                    )*
                }
            }

            /// Compile `bytes` on this engine.
            pub fn compile(self, bytes: &[u8]) -> Result<AnyComponent, engine_abi::Error> {
                Ok(match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyEngine::$kind(e) => {
                            let c = Component::new(&e, bytes)?;
                            AnyComponent::$kind(e, c)
                        }
                    )*
                })
            }
        }

        /// A compiled component and the engine it was compiled on.
        pub enum AnyComponent {
            $(
                #[doc = $description]
                #[cfg(feature = $feature)]
                $kind($engine, Component<$engine>),
            )*
        }

        impl AnyComponent {
            /// Which engine it was compiled on.
            pub fn kind(&self) -> EngineKind {
                match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyComponent::$kind(..) => EngineKind::$kind,
                    )*
                }
            }

            /// What the engine's compile cache did so far (`None`: it has none).
            pub fn cache_stats(&self) -> Option<engine_abi::engine::CacheStats> {
                match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyComponent::$kind(e, _) => e.cache_stats(),
                    )*
                }
            }

            /// Run `f` with the engine and the component.
            pub fn run<F: WithComponent>(self, f: F) -> F::Output {
                match self {
                    $(
                        #[cfg(feature = $feature)]
                        AnyComponent::$kind(e, c) => f.run(e, c),
                    )*
                }
            }
        }
    };
}

registry! {
    Jit: feature "jit", name "jit", "wasmtime 48, Cranelift JIT",
        executable memory true, backend_wasmtime::WasmtimeEngine, start start_jit;
    Interp: feature "interp", name "interp", "wasmi 2, interpreter (no executable memory)",
        executable memory false, backend_wasmi::WasmiEngine, start start_interp;
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the process may make memory executable, as [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutableMemory {
    /// The probe's page became executable.
    Allowed,
    /// The kernel refused, with this error (e.g. `EPERM`, `EACCES`).
    Denied(String),
}

/// Map one anonymous page read-write, make it read-execute, unmap it: the
/// steps a JIT takes to publish code. Run once per process, then cached.
pub fn probe() -> &'static ExecutableMemory {
    static PROBE: OnceLock<ExecutableMemory> = OnceLock::new();
    PROBE.get_or_init(probe_now)
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn probe_now() -> ExecutableMemory {
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let len = usize::try_from(page).unwrap_or(4096).max(4096);
    // SAFETY: a fresh private anonymous mapping, at an address of the
    // kernel's choosing: it aliases nothing.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return ExecutableMemory::Denied(format!(
            "cannot map a page to probe: {}",
            errno_name(std::io::Error::last_os_error())
        ));
    }
    // SAFETY: `ptr..ptr+len` is the mapping made above; nothing points
    // into it.
    let made_executable = unsafe { libc::mprotect(ptr, len, libc::PROT_READ | libc::PROT_EXEC) };
    let error = std::io::Error::last_os_error();
    // SAFETY: the mapping made above, unmapped once.
    unsafe { libc::munmap(ptr, len) };
    if made_executable == 0 {
        ExecutableMemory::Allowed
    } else {
        ExecutableMemory::Denied(errno_name(error))
    }
}

#[cfg(not(unix))]
fn probe_now() -> ExecutableMemory {
    // Only unix-like systems are probed; elsewhere the JIT is assumed to
    // work, and auto falls back to the interpreter if it does not.
    ExecutableMemory::Allowed
}

/// `EPERM`, `EACCES`, … rather than the OS's sentence, for log lines.
#[cfg(unix)]
fn errno_name(e: std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::ENOMEM) => "ENOMEM".into(),
        Some(libc::EINVAL) => "EINVAL".into(),
        _ => e.to_string(),
    }
}

/// The engine a choice resolved to, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The engine.
    pub kind: EngineKind,
    /// Why it was chosen, for the log: `requested`, `executable memory
    /// allowed`, `executable memory denied: EPERM`, `the only engine built
    /// in`…
    pub reason: String,
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "engine: {} ({})", self.kind, self.reason)
    }
}

/// Why a choice cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectError {
    /// The engine is not in this build.
    NotBuiltIn(EngineKind),
    /// An engine that needs executable memory was asked for (or was the
    /// only one built in), but the OS refuses it, for this reason.
    ExecutableMemoryDenied(EngineKind, String),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::NotBuiltIn(k) => write!(
                f,
                "this build does not include the {k} engine (built in: {})",
                built_in_names()
            ),
            SelectError::ExecutableMemoryDenied(k, why) => {
                write!(
                    f,
                    "the {k} engine cannot run here: the OS refuses to make memory executable ({why})"
                )?;
                let others: Vec<&str> = EngineKind::ALL
                    .iter()
                    .filter(|o| o.built_in() && !o.needs_executable_memory())
                    .map(|o| o.name())
                    .collect();
                match others.first() {
                    Some(other) => write!(f, "; use --engine {other} (or auto)"),
                    None => write!(f, "; this build has no engine that runs without it"),
                }
            }
        }
    }
}

impl std::error::Error for SelectError {}

/// The names of the engines this build has: `jit, interp`.
pub fn built_in_names() -> String {
    let names: Vec<&str> = EngineKind::ALL
        .iter()
        .filter(|k| k.built_in())
        .map(|k| k.name())
        .collect();
    names.join(", ")
}

/// Resolve `choice` against this build and this process ([`probe`]).
pub fn select(choice: EngineChoice) -> Result<Selection, SelectError> {
    select_with(choice, probe)
}

fn select_with(
    choice: EngineChoice,
    // Called only for engines that need executable memory; [`probe`]
    // caches its answer.
    executable: impl Fn() -> &'static ExecutableMemory,
) -> Result<Selection, SelectError> {
    if let Some(kind) = choice.kind() {
        if !kind.built_in() {
            return Err(SelectError::NotBuiltIn(kind));
        }
        if kind.needs_executable_memory()
            && let ExecutableMemory::Denied(why) = executable()
        {
            return Err(SelectError::ExecutableMemoryDenied(kind, why.clone()));
        }
        return Ok(Selection {
            kind,
            reason: "requested".into(),
        });
    }
    let built_in: Vec<EngineKind> = EngineKind::ALL
        .iter()
        .copied()
        .filter(|k| k.built_in())
        .collect();
    let only = built_in.len() == 1;
    // The first denial, to explain why a later engine was picked (all
    // engines that need executable memory share one probe).
    let mut denied: Option<(EngineKind, String)> = None;
    for kind in built_in {
        let reason = if kind.needs_executable_memory() {
            match (&denied, executable()) {
                (None, ExecutableMemory::Denied(why)) => {
                    denied = Some((kind, why.clone()));
                    continue;
                }
                (Some(_), _) => continue,
                (None, ExecutableMemory::Allowed) => "executable memory allowed".to_string(),
            }
        } else if let Some((_, why)) = &denied {
            format!("executable memory denied: {why}")
        } else if only {
            "the only engine built in".to_string()
        } else {
            "preferred".to_string()
        };
        return Ok(Selection { kind, reason });
    }
    Err(match denied {
        Some((kind, why)) => SelectError::ExecutableMemoryDenied(kind, why),
        // No engine at all: lib.rs refuses to build that.
        None => SelectError::NotBuiltIn(EngineKind::ALL[0]),
    })
}

/// Code generic over the engine, run by [`AnyEngine::run`].
pub trait WithEngine {
    /// What the code returns.
    type Output;
    /// Run on `engine`.
    fn run<E: Engine>(self, engine: E) -> Self::Output;
}

/// Start wasmtime. A JIT whose instance pool cannot be reserved (a small
/// address space, a `ulimit -v`) starts without one, with a warning, rather
/// than not at all.
#[cfg(feature = "jit")]
fn start_jit(config: &EngineConfig) -> Result<backend_wasmtime::WasmtimeEngine, String> {
    match backend_wasmtime::WasmtimeEngine::with_config(config) {
        Ok(e) => {
            if let Some(p) = &config.pool {
                let per = p.per_store;
                tracing::info!(
                    "jit: instance pool for {} requests at once, each with {} core instances, \
                     {} memories of up to {} MiB and {} tables",
                    p.max_stores,
                    per.instances,
                    per.memories,
                    p.max_memory_bytes >> 20,
                    per.tables
                );
            }
            Ok(e)
        }
        Err(err) if config.pool.is_some() => {
            tracing::warn!("cannot reserve the instance pool ({err}): allocating on demand");
            let on_demand = EngineConfig {
                pool: None,
                ..config.clone()
            };
            backend_wasmtime::WasmtimeEngine::with_config(&on_demand)
                .map_err(|e| format!("cannot start the jit engine: {e}"))
        }
        Err(err) => Err(format!("cannot start the jit engine: {err}")),
    }
}

/// The interpreter allocates on demand and compiles nothing: of `config`,
/// it uses only the stack limit.
#[cfg(feature = "interp")]
fn start_interp(config: &EngineConfig) -> Result<backend_wasmi::WasmiEngine, String> {
    Ok(backend_wasmi::WasmiEngine::with_config(config))
}

/// Code generic over the engine that gets a compiled component, run by
/// [`AnyComponent::run`].
pub trait WithComponent {
    /// What the code returns.
    type Output;
    /// Run on `engine` with `component`, compiled on it.
    fn run<E: Engine>(self, engine: E, component: Component<E>) -> Self::Output;
}

impl AnyComponent {
    /// Select the engine `choice` names, start it with `config` and compile
    /// `bytes` on it. Under [`EngineChoice::Auto`], a JIT that fails for a
    /// reason of its own (not an invalid component: e.g. the OS refused
    /// executable memory in a way the probe could not see) hands the
    /// component to the interpreter, with a warning.
    pub fn load(
        choice: EngineChoice,
        config: &EngineConfig,
        bytes: &[u8],
    ) -> Result<(AnyComponent, Selection), String> {
        let selection = select(choice).map_err(|e| e.to_string())?;
        let engine = AnyEngine::new(selection.kind, config)?;
        let fallback = EngineKind::ALL
            .iter()
            .copied()
            .find(|k| k.built_in() && !k.needs_executable_memory());
        match engine.compile(bytes) {
            Ok(c) => Ok((c, selection)),
            Err(e)
                if choice == EngineChoice::Auto
                    && selection.kind.needs_executable_memory()
                    && e.kind() == engine_abi::ErrorKind::Engine
                    && fallback.is_some() =>
            {
                let kind = fallback.expect("checked by the guard");
                tracing::warn!(
                    "the {} engine cannot load the component ({e}): using {kind}",
                    selection.kind
                );
                let engine = AnyEngine::new(kind, config)?;
                let c = engine.compile(bytes).map_err(|e| e.to_string())?;
                Ok((
                    c,
                    Selection {
                        kind,
                        reason: format!("the {} failed to load the component: {e}", selection.kind),
                    },
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// One line per engine: whether this build has it and whether it can run
/// here. What `cohost engines` prints.
pub fn report() -> String {
    let mut out = String::new();
    for kind in EngineKind::ALL {
        let status = if !kind.built_in() {
            "not built in".to_string()
        } else if kind.needs_executable_memory() {
            match probe() {
                ExecutableMemory::Allowed => "usable (executable memory allowed)".to_string(),
                ExecutableMemory::Denied(why) => {
                    format!("built in, unusable here (executable memory denied: {why})")
                }
            }
        } else {
            "usable".to_string()
        };
        out.push_str(&format!(
            "{:<7} {:<44} {status}\n",
            kind.name(),
            kind.description()
        ));
    }
    match select(EngineChoice::Auto) {
        Ok(s) => out.push_str(&format!("auto    -> {} ({})\n", s.kind, s.reason)),
        Err(e) => out.push_str(&format!("auto    -> none: {e}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static ALLOWED: ExecutableMemory = ExecutableMemory::Allowed;
    static DENIED: OnceLock<ExecutableMemory> = OnceLock::new();

    fn denied() -> &'static ExecutableMemory {
        DENIED.get_or_init(|| ExecutableMemory::Denied("EPERM".into()))
    }

    #[test]
    fn auto_picks_the_jit_where_allowed_and_the_interpreter_where_not() {
        let allowed = select_with(EngineChoice::Auto, || &ALLOWED).unwrap();
        let denied = select_with(EngineChoice::Auto, denied).unwrap();
        if cfg!(feature = "jit") {
            assert_eq!(allowed.kind, EngineKind::Jit);
        } else {
            assert_eq!(allowed.kind, EngineKind::Interp);
            assert_eq!(allowed.reason, "the only engine built in");
        }
        assert_eq!(denied.kind, EngineKind::Interp);
        assert_eq!(
            denied.to_string(),
            if cfg!(feature = "jit") {
                "engine: interp (executable memory denied: EPERM)"
            } else {
                "engine: interp (the only engine built in)"
            }
        );
    }

    #[test]
    fn jit_where_denied_is_an_error_naming_the_cause() {
        let err = select_with(EngineChoice::Jit, denied).unwrap_err();
        let text = err.to_string();
        if cfg!(feature = "jit") {
            assert!(
                text.contains("EPERM") && text.contains("--engine interp"),
                "{text}"
            );
        } else {
            assert!(text.contains("does not include the jit engine"), "{text}");
        }
    }

    #[test]
    fn interp_never_probes() {
        let s = select_with(EngineChoice::Interp, || panic!("probed")).unwrap();
        assert_eq!(s.kind, EngineKind::Interp);
    }

    #[test]
    fn this_process_may_make_memory_executable() {
        // The test machines allow it; the seccomp tests cover the denial.
        assert_eq!(probe(), &ExecutableMemory::Allowed);
    }
}
