//! Guest-visible errors (`wasi:http/types.error-code`), kept apart from
//! traps: a host function returns an [`ErrorCode`] as a value the guest
//! receives, or an [`engine_abi::Trap`] when the guest misbehaved.

use std::borrow::Cow;
use std::fmt;

use engine_abi::abi::Val;

/// A `wasi:http/types.error-code`: its case (as the WIT spells it, e.g.
/// `HTTP-request-denied`) and its payload, if it has one.
#[derive(Clone, PartialEq)]
pub struct ErrorCode {
    case: Cow<'static, str>,
    payload: Option<Val>,
}

impl ErrorCode {
    /// A case without payload.
    pub const fn new(case: &'static str) -> ErrorCode {
        ErrorCode {
            case: Cow::Borrowed(case),
            payload: None,
        }
    }

    /// `internal-error(some(message))`
    pub fn internal(message: impl Into<String>) -> ErrorCode {
        ErrorCode {
            case: Cow::Borrowed("internal-error"),
            payload: Some(Val::Option(Some(Box::new(Val::String(message.into()))))),
        }
    }

    /// `HTTP-request-denied`: the outgoing-request policy refused it.
    pub const HTTP_REQUEST_DENIED: ErrorCode = ErrorCode::new("HTTP-request-denied");
    /// `connection-refused`
    pub const CONNECTION_REFUSED: ErrorCode = ErrorCode::new("connection-refused");
    /// `connection-terminated`
    pub const CONNECTION_TERMINATED: ErrorCode = ErrorCode::new("connection-terminated");
    /// `connection-timeout`
    pub const CONNECTION_TIMEOUT: ErrorCode = ErrorCode::new("connection-timeout");
    /// `connection-read-timeout`
    pub const CONNECTION_READ_TIMEOUT: ErrorCode = ErrorCode::new("connection-read-timeout");
    /// `connection-limit-reached`
    pub const CONNECTION_LIMIT_REACHED: ErrorCode = ErrorCode::new("connection-limit-reached");
    /// `destination-not-found`
    pub const DESTINATION_NOT_FOUND: ErrorCode = ErrorCode::new("destination-not-found");
    /// `HTTP-request-URI-invalid`
    pub const HTTP_REQUEST_URI_INVALID: ErrorCode = ErrorCode::new("HTTP-request-URI-invalid");
    /// `HTTP-request-method-invalid`
    pub const HTTP_REQUEST_METHOD_INVALID: ErrorCode =
        ErrorCode::new("HTTP-request-method-invalid");
    /// `HTTP-response-incomplete`
    pub const HTTP_RESPONSE_INCOMPLETE: ErrorCode = ErrorCode::new("HTTP-response-incomplete");
    /// `HTTP-response-timeout`
    pub const HTTP_RESPONSE_TIMEOUT: ErrorCode = ErrorCode::new("HTTP-response-timeout");
    /// `HTTP-protocol-error`
    pub const HTTP_PROTOCOL_ERROR: ErrorCode = ErrorCode::new("HTTP-protocol-error");
    /// `TLS-protocol-error`
    pub const TLS_PROTOCOL_ERROR: ErrorCode = ErrorCode::new("TLS-protocol-error");
    /// `TLS-certificate-error`
    pub const TLS_CERTIFICATE_ERROR: ErrorCode = ErrorCode::new("TLS-certificate-error");

    /// `HTTP-request-body-size(size)`
    pub fn request_body_size(size: Option<u64>) -> ErrorCode {
        ErrorCode::with_u64("HTTP-request-body-size", size)
    }

    /// `HTTP-response-body-size(size)`
    pub fn response_body_size(size: Option<u64>) -> ErrorCode {
        ErrorCode::with_u64("HTTP-response-body-size", size)
    }

    fn with_u64(case: &'static str, v: Option<u64>) -> ErrorCode {
        ErrorCode {
            case: Cow::Borrowed(case),
            payload: Some(Val::Option(v.map(|v| Box::new(Val::U64(v))))),
        }
    }

    /// The case name.
    pub fn case(&self) -> &str {
        &self.case
    }

    /// The value the guest receives.
    pub fn to_val(&self) -> Val {
        Val::Variant(self.case.to_string(), self.payload.clone().map(Box::new))
    }

    /// An error-code the guest gave the host.
    pub fn from_val(v: &Val) -> ErrorCode {
        match v {
            Val::Variant(case, payload) => ErrorCode {
                case: Cow::Owned(case.clone()),
                payload: payload.as_deref().cloned(),
            },
            other => ErrorCode::internal(format!("not an error-code: {other:?}")),
        }
    }

    /// Map a hyper error to the closest error-code.
    pub fn from_hyper(e: &hyper::Error) -> ErrorCode {
        if e.is_timeout() {
            ErrorCode::HTTP_RESPONSE_TIMEOUT
        } else if e.is_parse() || e.is_parse_status() {
            ErrorCode::HTTP_PROTOCOL_ERROR
        } else if e.is_incomplete_message() {
            ErrorCode::HTTP_RESPONSE_INCOMPLETE
        } else if e.is_canceled() || e.is_closed() {
            ErrorCode::CONNECTION_TERMINATED
        } else {
            ErrorCode::internal(e.to_string())
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.case)?;
        match &self.payload {
            None | Some(Val::Option(None)) => Ok(()),
            Some(Val::Option(Some(v))) => match &**v {
                Val::String(s) => write!(f, "({s})"),
                Val::U64(n) => write!(f, "({n})"),
                Val::U32(n) => write!(f, "({n})"),
                other => write!(f, "({other:?})"),
            },
            Some(other) => write!(f, "({other:?})"),
        }
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_val() {
        assert_eq!(
            ErrorCode::HTTP_REQUEST_DENIED.to_string(),
            "HTTP-request-denied"
        );
        assert_eq!(
            ErrorCode::internal("boom").to_string(),
            "internal-error(boom)"
        );
        let v = ErrorCode::request_body_size(Some(3)).to_val();
        assert_eq!(
            ErrorCode::from_val(&v),
            ErrorCode::request_body_size(Some(3))
        );
    }
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a valid component (or use what the host lacks).
    Load,
    /// The component imports something the host does not provide, or with
    /// another type.
    Link,
    /// The component does not export `wasi:http/incoming-handler#handle`.
    Export,
    /// A configuration value is invalid.
    Config,
    /// The server could not bind or accept.
    Io,
}

/// The error of the wasi:http host's embedding API. Boxed: a `Result` of it
/// stays one word.
pub struct Error(Box<(ErrorKind, String)>);

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new((kind, message.into())))
    }
    pub(crate) fn load(e: engine_abi::Error) -> Error {
        Error::new(ErrorKind::Load, format!("invalid component: {e}"))
    }
    pub(crate) fn link(e: engine_abi::Error) -> Error {
        Error::new(ErrorKind::Link, e.to_string())
    }
    pub(crate) fn export(message: String) -> Error {
        Error::new(ErrorKind::Export, message)
    }
    pub(crate) fn config(message: String) -> Error {
        Error::new(ErrorKind::Config, message)
    }
    pub(crate) fn io(what: &str, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what}: {e}"))
    }
    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.0
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.0.0, self.0.1)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.1)
    }
}

impl std::error::Error for Error {}

#[test]
fn error_stays_small() {
    assert_eq!(
        std::mem::size_of::<Result<(), Error>>(),
        std::mem::size_of::<usize>()
    );
}
