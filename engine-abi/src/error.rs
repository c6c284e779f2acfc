//! Errors of the component host, kept apart from traps.
//!
//! A [`Trap`] is what a guest sees end its call: it misbehaved (a bad
//! pointer, an invalid handle, `unreachable`) or hit a limit. An [`Error`] is
//! everything else that can fail in the host: a malformed component, a
//! missing import, a type mismatch at link time. An [`Error`] can carry a
//! [`Trap`] when a call failed because the guest trapped.

use std::fmt;

/// The classes of trap, so callers can tell a guest bug from a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// The guest executed `unreachable` or an engine-level trap
    /// (division by zero, out-of-bounds access in core wasm, stack overflow…).
    Wasm,
    /// The guest broke a rule of the canonical ABI: a bad pointer, length,
    /// alignment, string, discriminant, flag or handle.
    Abi,
    /// The guest ran out of its time budget (fuel or epoch deadline).
    Timeout,
    /// The guest hit a memory or table limit.
    Limit,
    /// A host function failed in a way that ends the guest's call.
    Host,
}

/// The traps of core wasm, named the same whichever engine raised them so
/// that both engines report identical messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WasmTrap {
    /// `unreachable` executed.
    Unreachable,
    /// Out-of-bounds linear memory access.
    MemoryOutOfBounds,
    /// Out-of-bounds table access.
    TableOutOfBounds,
    /// `call_indirect` of a null entry.
    IndirectCallToNull,
    /// `call_indirect` signature mismatch.
    BadSignature,
    /// Integer overflow.
    IntegerOverflow,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Float to integer conversion failed.
    BadConversionToInteger,
    /// The call stack was exhausted.
    StackOverflow,
    /// The time budget (fuel or epoch deadline) ran out.
    OutOfTime,
    /// Any other engine trap.
    Other,
}

impl WasmTrap {
    /// The message of this trap.
    pub fn message(self) -> &'static str {
        match self {
            WasmTrap::Unreachable => "wasm `unreachable` instruction executed",
            WasmTrap::MemoryOutOfBounds => "out of bounds memory access",
            WasmTrap::TableOutOfBounds => "undefined element: out of bounds table access",
            WasmTrap::IndirectCallToNull => "uninitialized element",
            WasmTrap::BadSignature => "indirect call type mismatch",
            WasmTrap::IntegerOverflow => "integer overflow",
            WasmTrap::IntegerDivisionByZero => "integer divide by zero",
            WasmTrap::BadConversionToInteger => "invalid conversion to integer",
            WasmTrap::StackOverflow => "call stack exhausted",
            WasmTrap::OutOfTime => "guest ran out of its time budget",
            WasmTrap::Other => "wasm trap",
        }
    }
}

/// A trap: the end of a guest call, with a message naming what went wrong.
#[derive(Clone, PartialEq, Eq)]
pub struct Trap {
    kind: TrapKind,
    message: Box<str>,
}

impl Trap {
    /// A trap of `kind` with `message`.
    pub fn new(kind: TrapKind, message: impl Into<String>) -> Self {
        Trap {
            kind,
            message: message.into().into_boxed_str(),
        }
    }

    /// A core wasm trap.
    pub fn wasm(code: WasmTrap) -> Self {
        let kind = match code {
            WasmTrap::OutOfTime => TrapKind::Timeout,
            _ => TrapKind::Wasm,
        };
        Trap::new(kind, code.message())
    }

    /// A canonical-ABI violation by the guest.
    pub fn abi(message: impl Into<String>) -> Self {
        Trap::new(TrapKind::Abi, message)
    }

    /// A host-side failure that ends the guest's call.
    pub fn host(message: impl Into<String>) -> Self {
        Trap::new(TrapKind::Host, message)
    }

    /// Which class of trap this is.
    pub fn kind(&self) -> TrapKind {
        self.kind
    }

    /// The trap's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Trap({:?}: {})", self.kind, self.message)
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Trap {}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a valid component or core module.
    Invalid,
    /// The component uses a feature this host does not implement.
    Unsupported,
    /// An import could not be satisfied, or satisfied with the wrong type.
    Link,
    /// A call was made with values that do not match the function's type.
    Type,
    /// The guest trapped; [`Error::trap`] has the details.
    Trap,
    /// The engine failed for a reason of its own (compilation, resources).
    Engine,
    /// The engine is out of the capacity it set aside (an instance pool is
    /// full): nothing is wrong with the guest, and a later try may succeed.
    Busy,
}

/// The error type of the component host.
///
/// Boxed, so a `Result<T, Error>` stays two words.
pub struct Error(Box<ErrorInner>);

struct ErrorInner {
    kind: ErrorKind,
    message: String,
    trap: Option<Trap>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorInner {
            kind,
            message: message.into(),
            trap: None,
        }))
    }

    /// An invalid-input error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    /// An unsupported-feature error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// A link error.
    pub fn link(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Link, message)
    }

    /// A type error in a host-made call.
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Type, message)
    }

    /// An engine failure.
    pub fn engine(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Engine, message)
    }

    /// A [`ErrorKind::Busy`] error.
    pub fn busy(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Busy, message)
    }

    /// Whether the engine was out of preallocated capacity
    /// ([`ErrorKind::Busy`]).
    pub fn is_busy(&self) -> bool {
        self.0.kind == ErrorKind::Busy
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The trap that caused this error, if the guest trapped.
    pub fn trap(&self) -> Option<&Trap> {
        self.0.trap.as_ref()
    }

    /// Whether the guest trapped.
    pub fn is_trap(&self) -> bool {
        self.0.trap.is_some()
    }

    /// Prefix the message with what was being done, e.g. which import.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.0.message = format!("{what}: {}", self.0.message);
        self
    }

    /// The message, without its kind.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl From<Trap> for Error {
    fn from(trap: Trap) -> Self {
        Error(Box::new(ErrorInner {
            kind: ErrorKind::Trap,
            message: trap.message().to_string(),
            trap: Some(trap),
        }))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.0.kind, self.0.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

/// Results of the component host.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_stay_small() {
        assert_eq!(
            std::mem::size_of::<Result<()>>(),
            std::mem::size_of::<usize>()
        );
        assert!(std::mem::size_of::<Result<(), Trap>>() <= 4 * std::mem::size_of::<usize>());
    }
}
