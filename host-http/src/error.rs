//! Guest-visible errors (`wasi:http/types.error-code`), kept apart from
//! traps: a host function returns an [`ErrorCode`] as a value the guest
//! receives, or an [`engine_abi::Trap`] when the guest misbehaved.
//!
//! [`ErrorCode`] is the WIT variant as a Rust enum, case for case, and
//! lifts and lowers itself with the typed ABI: its `Lift`/`Lower` are
//! written by hand against the WIT layout (39 cases, a one-byte
//! discriminant, payloads up to `option<field-size-payload>`), and checked
//! against the dynamic ABI's lowering of the same values in the tests.

use std::fmt;

use engine_abi::Trap;
use engine_abi::abi::typed::{self, VariantType};
use engine_abi::abi::{AbiContext, ComponentType, Lift, Lower, StaticLayout};
use engine_abi::engine::CoreVal;
use engine_abi::types::{Type, Variant};

wit_record! {
    /// `wasi:http/types.DNS-error-payload`
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DnsErrorPayload {
        /// `rcode`
        pub rcode: Option<String> = "rcode",
        /// `info-code`
        pub info_code: Option<u16> = "info-code",
    }
}

wit_record! {
    /// `wasi:http/types.TLS-alert-received-payload`
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct TlsAlertReceivedPayload {
        /// `alert-id`
        pub alert_id: Option<u8> = "alert-id",
        /// `alert-message`
        pub alert_message: Option<String> = "alert-message",
    }
}

wit_record! {
    /// `wasi:http/types.field-size-payload`
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct FieldSizePayload {
        /// `field-name`
        pub field_name: Option<String> = "field-name",
        /// `field-size`
        pub field_size: Option<u32> = "field-size",
    }
}

/// A `wasi:http/types.error-code`, case for case (in the WIT's order, which
/// is the order of the discriminants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// `DNS-timeout`
    DnsTimeout,
    /// `DNS-error`
    DnsError(DnsErrorPayload),
    /// `destination-not-found`
    DestinationNotFound,
    /// `destination-unavailable`
    DestinationUnavailable,
    /// `destination-IP-prohibited`
    DestinationIpProhibited,
    /// `destination-IP-unroutable`
    DestinationIpUnroutable,
    /// `connection-refused`
    ConnectionRefused,
    /// `connection-terminated`
    ConnectionTerminated,
    /// `connection-timeout`
    ConnectionTimeout,
    /// `connection-read-timeout`
    ConnectionReadTimeout,
    /// `connection-write-timeout`
    ConnectionWriteTimeout,
    /// `connection-limit-reached`
    ConnectionLimitReached,
    /// `TLS-protocol-error`
    TlsProtocolError,
    /// `TLS-certificate-error`
    TlsCertificateError,
    /// `TLS-alert-received`
    TlsAlertReceived(TlsAlertReceivedPayload),
    /// `HTTP-request-denied`
    HttpRequestDenied,
    /// `HTTP-request-length-required`
    HttpRequestLengthRequired,
    /// `HTTP-request-body-size`
    HttpRequestBodySize(Option<u64>),
    /// `HTTP-request-method-invalid`
    HttpRequestMethodInvalid,
    /// `HTTP-request-URI-invalid`
    HttpRequestUriInvalid,
    /// `HTTP-request-URI-too-long`
    HttpRequestUriTooLong,
    /// `HTTP-request-header-section-size`
    HttpRequestHeaderSectionSize(Option<u32>),
    /// `HTTP-request-header-size`
    HttpRequestHeaderSize(Option<FieldSizePayload>),
    /// `HTTP-request-trailer-section-size`
    HttpRequestTrailerSectionSize(Option<u32>),
    /// `HTTP-request-trailer-size`
    HttpRequestTrailerSize(FieldSizePayload),
    /// `HTTP-response-incomplete`
    HttpResponseIncomplete,
    /// `HTTP-response-header-section-size`
    HttpResponseHeaderSectionSize(Option<u32>),
    /// `HTTP-response-header-size`
    HttpResponseHeaderSize(FieldSizePayload),
    /// `HTTP-response-body-size`
    HttpResponseBodySize(Option<u64>),
    /// `HTTP-response-trailer-section-size`
    HttpResponseTrailerSectionSize(Option<u32>),
    /// `HTTP-response-trailer-size`
    HttpResponseTrailerSize(FieldSizePayload),
    /// `HTTP-response-transfer-coding`
    HttpResponseTransferCoding(Option<String>),
    /// `HTTP-response-content-coding`
    HttpResponseContentCoding(Option<String>),
    /// `HTTP-response-timeout`
    HttpResponseTimeout,
    /// `HTTP-upgrade-failed`
    HttpUpgradeFailed,
    /// `HTTP-protocol-error`
    HttpProtocolError,
    /// `loop-detected`
    LoopDetected,
    /// `configuration-error`
    ConfigurationError,
    /// `internal-error`: a message, if any.
    InternalError(Option<String>),
}

/// The cases' WIT names, by discriminant.
const LABELS: [&str; 39] = [
    "DNS-timeout",
    "DNS-error",
    "destination-not-found",
    "destination-unavailable",
    "destination-IP-prohibited",
    "destination-IP-unroutable",
    "connection-refused",
    "connection-terminated",
    "connection-timeout",
    "connection-read-timeout",
    "connection-write-timeout",
    "connection-limit-reached",
    "TLS-protocol-error",
    "TLS-certificate-error",
    "TLS-alert-received",
    "HTTP-request-denied",
    "HTTP-request-length-required",
    "HTTP-request-body-size",
    "HTTP-request-method-invalid",
    "HTTP-request-URI-invalid",
    "HTTP-request-URI-too-long",
    "HTTP-request-header-section-size",
    "HTTP-request-header-size",
    "HTTP-request-trailer-section-size",
    "HTTP-request-trailer-size",
    "HTTP-response-incomplete",
    "HTTP-response-header-section-size",
    "HTTP-response-header-size",
    "HTTP-response-body-size",
    "HTTP-response-trailer-section-size",
    "HTTP-response-trailer-size",
    "HTTP-response-transfer-coding",
    "HTTP-response-content-coding",
    "HTTP-response-timeout",
    "HTTP-upgrade-failed",
    "HTTP-protocol-error",
    "loop-detected",
    "configuration-error",
    "internal-error",
];

impl ErrorCode {
    /// `internal-error(some(message))`
    pub fn internal(message: impl Into<String>) -> ErrorCode {
        ErrorCode::InternalError(Some(message.into()))
    }

    /// `HTTP-request-denied`: the outgoing-request policy refused it.
    pub const HTTP_REQUEST_DENIED: ErrorCode = ErrorCode::HttpRequestDenied;
    /// `connection-refused`
    pub const CONNECTION_REFUSED: ErrorCode = ErrorCode::ConnectionRefused;
    /// `connection-terminated`
    pub const CONNECTION_TERMINATED: ErrorCode = ErrorCode::ConnectionTerminated;
    /// `connection-timeout`
    pub const CONNECTION_TIMEOUT: ErrorCode = ErrorCode::ConnectionTimeout;
    /// `connection-read-timeout`
    pub const CONNECTION_READ_TIMEOUT: ErrorCode = ErrorCode::ConnectionReadTimeout;
    /// `connection-limit-reached`
    pub const CONNECTION_LIMIT_REACHED: ErrorCode = ErrorCode::ConnectionLimitReached;
    /// `destination-not-found`
    pub const DESTINATION_NOT_FOUND: ErrorCode = ErrorCode::DestinationNotFound;
    /// `HTTP-request-URI-invalid`
    pub const HTTP_REQUEST_URI_INVALID: ErrorCode = ErrorCode::HttpRequestUriInvalid;
    /// `HTTP-request-method-invalid`
    pub const HTTP_REQUEST_METHOD_INVALID: ErrorCode = ErrorCode::HttpRequestMethodInvalid;
    /// `HTTP-response-incomplete`
    pub const HTTP_RESPONSE_INCOMPLETE: ErrorCode = ErrorCode::HttpResponseIncomplete;
    /// `HTTP-response-timeout`
    pub const HTTP_RESPONSE_TIMEOUT: ErrorCode = ErrorCode::HttpResponseTimeout;
    /// `HTTP-protocol-error`
    pub const HTTP_PROTOCOL_ERROR: ErrorCode = ErrorCode::HttpProtocolError;
    /// `TLS-protocol-error`
    pub const TLS_PROTOCOL_ERROR: ErrorCode = ErrorCode::TlsProtocolError;
    /// `TLS-certificate-error`
    pub const TLS_CERTIFICATE_ERROR: ErrorCode = ErrorCode::TlsCertificateError;

    /// `HTTP-request-body-size(size)`
    pub fn request_body_size(size: Option<u64>) -> ErrorCode {
        ErrorCode::HttpRequestBodySize(size)
    }

    /// `HTTP-response-body-size(size)`
    pub fn response_body_size(size: Option<u64>) -> ErrorCode {
        ErrorCode::HttpResponseBodySize(size)
    }

    /// The case's discriminant: its index in the WIT.
    fn discriminant(&self) -> u32 {
        use ErrorCode as E;
        match self {
            E::DnsTimeout => 0,
            E::DnsError(_) => 1,
            E::DestinationNotFound => 2,
            E::DestinationUnavailable => 3,
            E::DestinationIpProhibited => 4,
            E::DestinationIpUnroutable => 5,
            E::ConnectionRefused => 6,
            E::ConnectionTerminated => 7,
            E::ConnectionTimeout => 8,
            E::ConnectionReadTimeout => 9,
            E::ConnectionWriteTimeout => 10,
            E::ConnectionLimitReached => 11,
            E::TlsProtocolError => 12,
            E::TlsCertificateError => 13,
            E::TlsAlertReceived(_) => 14,
            E::HttpRequestDenied => 15,
            E::HttpRequestLengthRequired => 16,
            E::HttpRequestBodySize(_) => 17,
            E::HttpRequestMethodInvalid => 18,
            E::HttpRequestUriInvalid => 19,
            E::HttpRequestUriTooLong => 20,
            E::HttpRequestHeaderSectionSize(_) => 21,
            E::HttpRequestHeaderSize(_) => 22,
            E::HttpRequestTrailerSectionSize(_) => 23,
            E::HttpRequestTrailerSize(_) => 24,
            E::HttpResponseIncomplete => 25,
            E::HttpResponseHeaderSectionSize(_) => 26,
            E::HttpResponseHeaderSize(_) => 27,
            E::HttpResponseBodySize(_) => 28,
            E::HttpResponseTrailerSectionSize(_) => 29,
            E::HttpResponseTrailerSize(_) => 30,
            E::HttpResponseTransferCoding(_) => 31,
            E::HttpResponseContentCoding(_) => 32,
            E::HttpResponseTimeout => 33,
            E::HttpUpgradeFailed => 34,
            E::HttpProtocolError => 35,
            E::LoopDetected => 36,
            E::ConfigurationError => 37,
            E::InternalError(_) => 38,
        }
    }

    /// The case without payload whose discriminant is `disc`, or `None`
    /// if that case has a payload (or there is no such case).
    fn unit_case(disc: u32) -> Option<ErrorCode> {
        use ErrorCode as E;
        Some(match disc {
            0 => E::DnsTimeout,
            2 => E::DestinationNotFound,
            3 => E::DestinationUnavailable,
            4 => E::DestinationIpProhibited,
            5 => E::DestinationIpUnroutable,
            6 => E::ConnectionRefused,
            7 => E::ConnectionTerminated,
            8 => E::ConnectionTimeout,
            9 => E::ConnectionReadTimeout,
            10 => E::ConnectionWriteTimeout,
            11 => E::ConnectionLimitReached,
            12 => E::TlsProtocolError,
            13 => E::TlsCertificateError,
            15 => E::HttpRequestDenied,
            16 => E::HttpRequestLengthRequired,
            18 => E::HttpRequestMethodInvalid,
            19 => E::HttpRequestUriInvalid,
            20 => E::HttpRequestUriTooLong,
            25 => E::HttpResponseIncomplete,
            33 => E::HttpResponseTimeout,
            34 => E::HttpUpgradeFailed,
            35 => E::HttpProtocolError,
            36 => E::LoopDetected,
            37 => E::ConfigurationError,
            _ => return None,
        })
    }

    /// The case's name, as the WIT spells it (`HTTP-request-denied`).
    pub fn case(&self) -> &'static str {
        LABELS[self.discriminant() as usize]
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

impl fmt::Display for ErrorCode {
    /// The case, and its payload if it carries something:
    /// `internal-error(boom)`, `HTTP-request-body-size(3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorCode as E;
        f.write_str(self.case())?;
        fn some(f: &mut fmt::Formatter<'_>, v: &Option<impl fmt::Display>) -> fmt::Result {
            match v {
                Some(v) => write!(f, "({v})"),
                None => Ok(()),
            }
        }
        fn field(f: &mut fmt::Formatter<'_>, p: &FieldSizePayload) -> fmt::Result {
            if p.field_name.is_none() && p.field_size.is_none() {
                return Ok(());
            }
            f.write_str("(")?;
            if let Some(n) = &p.field_name {
                f.write_str(n)?;
            }
            if let Some(s) = p.field_size {
                write!(f, "{}{s}", if p.field_name.is_some() { ": " } else { "" })?;
            }
            f.write_str(")")
        }
        match self {
            E::DnsError(p) => match (&p.rcode, p.info_code) {
                (None, None) => Ok(()),
                (rcode, info) => write!(
                    f,
                    "(rcode {}, info-code {})",
                    rcode.as_deref().unwrap_or("none"),
                    info.map_or("none".to_string(), |i| i.to_string())
                ),
            },
            E::TlsAlertReceived(p) => match (p.alert_id, &p.alert_message) {
                (None, None) => Ok(()),
                (id, message) => write!(
                    f,
                    "({}{})",
                    id.map_or(String::new(), |i| format!("alert {i}: ")),
                    message.as_deref().unwrap_or("")
                ),
            },
            E::HttpRequestBodySize(n) | E::HttpResponseBodySize(n) => some(f, n),
            E::HttpRequestHeaderSectionSize(n)
            | E::HttpRequestTrailerSectionSize(n)
            | E::HttpResponseHeaderSectionSize(n)
            | E::HttpResponseTrailerSectionSize(n) => some(f, n),
            E::HttpRequestHeaderSize(Some(p)) => field(f, p),
            E::HttpRequestTrailerSize(p)
            | E::HttpResponseHeaderSize(p)
            | E::HttpResponseTrailerSize(p) => field(f, p),
            E::HttpResponseTransferCoding(s)
            | E::HttpResponseContentCoding(s)
            | E::InternalError(s) => some(f, s),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ErrorCode {}

impl ComponentType for ErrorCode {
    const LAYOUT: StaticLayout = {
        let string = Some(<Option<String>>::LAYOUT);
        let u32 = Some(<Option<u32>>::LAYOUT);
        let u64 = Some(<Option<u64>>::LAYOUT);
        let field = Some(FieldSizePayload::LAYOUT);
        StaticLayout::variant(&[
            None,                                     // DNS-timeout
            Some(DnsErrorPayload::LAYOUT),            // DNS-error
            None,                                     // destination-not-found
            None,                                     // destination-unavailable
            None,                                     // destination-IP-prohibited
            None,                                     // destination-IP-unroutable
            None,                                     // connection-refused
            None,                                     // connection-terminated
            None,                                     // connection-timeout
            None,                                     // connection-read-timeout
            None,                                     // connection-write-timeout
            None,                                     // connection-limit-reached
            None,                                     // TLS-protocol-error
            None,                                     // TLS-certificate-error
            Some(TlsAlertReceivedPayload::LAYOUT),    // TLS-alert-received
            None,                                     // HTTP-request-denied
            None,                                     // HTTP-request-length-required
            u64,                                      // HTTP-request-body-size
            None,                                     // HTTP-request-method-invalid
            None,                                     // HTTP-request-URI-invalid
            None,                                     // HTTP-request-URI-too-long
            u32,                                      // HTTP-request-header-section-size
            Some(<Option<FieldSizePayload>>::LAYOUT), // HTTP-request-header-size
            u32,                                      // HTTP-request-trailer-section-size
            field,                                    // HTTP-request-trailer-size
            None,                                     // HTTP-response-incomplete
            u32,                                      // HTTP-response-header-section-size
            field,                                    // HTTP-response-header-size
            u64,                                      // HTTP-response-body-size
            u32,                                      // HTTP-response-trailer-section-size
            field,                                    // HTTP-response-trailer-size
            string,                                   // HTTP-response-transfer-coding
            string,                                   // HTTP-response-content-coding
            None,                                     // HTTP-response-timeout
            None,                                     // HTTP-upgrade-failed
            None,                                     // HTTP-protocol-error
            None,                                     // loop-detected
            None,                                     // configuration-error
            string,                                   // internal-error
        ])
    };

    fn ty() -> Type {
        let payload = |disc: u32| -> Option<Type> {
            Some(match disc {
                1 => DnsErrorPayload::ty(),
                14 => TlsAlertReceivedPayload::ty(),
                17 | 28 => <Option<u64>>::ty(),
                21 | 23 | 26 | 29 => <Option<u32>>::ty(),
                22 => <Option<FieldSizePayload>>::ty(),
                24 | 27 | 30 => FieldSizePayload::ty(),
                31 | 32 | 38 => <Option<String>>::ty(),
                _ => return None,
            })
        };
        Type::Variant(Variant::new(
            (0..)
                .zip(LABELS)
                .map(|(disc, label)| (label, payload(disc)))
                .collect::<Vec<_>>(),
        ))
    }
}

impl VariantType for ErrorCode {
    const CASES: u32 = LABELS.len() as u32;
    const NAME: &'static str = "error-code";
}

/// Runs `$then` with `$payload` bound to the payload of `$code` (`&()` for
/// a case without one), so that lowering flat and into memory share one
/// list of which case carries what.
macro_rules! with_payload {
    ($code:expr, |$payload:ident| $then:expr) => {{
        use ErrorCode as E;
        match $code {
            E::DnsError($payload) => $then,
            E::TlsAlertReceived($payload) => $then,
            E::HttpRequestBodySize($payload) | E::HttpResponseBodySize($payload) => $then,
            E::HttpRequestHeaderSectionSize($payload)
            | E::HttpRequestTrailerSectionSize($payload)
            | E::HttpResponseHeaderSectionSize($payload)
            | E::HttpResponseTrailerSectionSize($payload) => $then,
            E::HttpRequestHeaderSize($payload) => $then,
            E::HttpRequestTrailerSize($payload)
            | E::HttpResponseHeaderSize($payload)
            | E::HttpResponseTrailerSize($payload) => $then,
            E::HttpResponseTransferCoding($payload)
            | E::HttpResponseContentCoding($payload)
            | E::InternalError($payload) => $then,
            _ => {
                let $payload = &();
                $then
            }
        }
    }};
}

impl Lower for ErrorCode {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        let disc = self.discriminant();
        with_payload!(self, |p| typed::lower_variant_flat::<Self, _, _>(
            cx, disc, p, dst
        ))
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        let disc = self.discriminant();
        with_payload!(self, |p| typed::store_variant::<Self, _, _>(
            cx, disc, p, ptr
        ))
    }
}

/// The case `disc` with the payload `read` gives for its type: how lifting
/// flat and from memory share one list of which case carries what.
fn lift_case(
    disc: u32,
    mut read: impl FnMut(PayloadKind) -> Result<Payload, Trap>,
) -> Result<ErrorCode, Trap> {
    use ErrorCode as E;
    if let Some(unit) = ErrorCode::unit_case(disc) {
        read(PayloadKind::None)?;
        return Ok(unit);
    }
    let kind = match disc {
        1 => PayloadKind::Dns,
        14 => PayloadKind::Tls,
        17 | 28 => PayloadKind::U64,
        21 | 23 | 26 | 29 => PayloadKind::U32,
        22 => PayloadKind::OptionField,
        24 | 27 | 30 => PayloadKind::Field,
        _ => PayloadKind::String,
    };
    Ok(match (disc, read(kind)?) {
        (1, Payload::Dns(p)) => E::DnsError(p),
        (14, Payload::Tls(p)) => E::TlsAlertReceived(p),
        (17, Payload::U64(n)) => E::HttpRequestBodySize(n),
        (28, Payload::U64(n)) => E::HttpResponseBodySize(n),
        (21, Payload::U32(n)) => E::HttpRequestHeaderSectionSize(n),
        (23, Payload::U32(n)) => E::HttpRequestTrailerSectionSize(n),
        (26, Payload::U32(n)) => E::HttpResponseHeaderSectionSize(n),
        (29, Payload::U32(n)) => E::HttpResponseTrailerSectionSize(n),
        (22, Payload::OptionField(p)) => E::HttpRequestHeaderSize(p),
        (24, Payload::Field(p)) => E::HttpRequestTrailerSize(p),
        (27, Payload::Field(p)) => E::HttpResponseHeaderSize(p),
        (30, Payload::Field(p)) => E::HttpResponseTrailerSize(p),
        (31, Payload::String(s)) => E::HttpResponseTransferCoding(s),
        (32, Payload::String(s)) => E::HttpResponseContentCoding(s),
        (38, Payload::String(s)) => E::InternalError(s),
        (disc, _) => {
            return Err(Trap::host(format!(
                "host bug: error-code case {disc} lifted with the wrong payload"
            )));
        }
    })
}

/// The payload types of error-code's cases.
#[derive(Clone, Copy)]
enum PayloadKind {
    None,
    Dns,
    Tls,
    U64,
    U32,
    OptionField,
    Field,
    String,
}

/// A payload lifted as one of the [`PayloadKind`]s.
enum Payload {
    None,
    Dns(DnsErrorPayload),
    Tls(TlsAlertReceivedPayload),
    U64(Option<u64>),
    U32(Option<u32>),
    OptionField(Option<FieldSizePayload>),
    Field(FieldSizePayload),
    String(Option<String>),
}

impl Lift for ErrorCode {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let case = typed::lift_variant_flat::<Self, _>(src)?;
        let disc = case.discriminant();
        // The payload is read once, by the one call `lift_case` makes.
        let mut case = Some(case);
        lift_case(disc, |kind| {
            let Some(case) = case.take() else {
                return Err(Trap::host("host bug: error-code payload read twice"));
            };
            Ok(match kind {
                PayloadKind::None => case.payload::<(), _>(cx).map(|()| Payload::None)?,
                PayloadKind::Dns => Payload::Dns(case.payload(cx)?),
                PayloadKind::Tls => Payload::Tls(case.payload(cx)?),
                PayloadKind::U64 => Payload::U64(case.payload(cx)?),
                PayloadKind::U32 => Payload::U32(case.payload(cx)?),
                PayloadKind::OptionField => Payload::OptionField(case.payload(cx)?),
                PayloadKind::Field => Payload::Field(case.payload(cx)?),
                PayloadKind::String => Payload::String(case.payload(cx)?),
            })
        })
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let case = typed::load_variant::<Self, _>(cx, ptr)?;
        lift_case(case.discriminant(), |kind| {
            Ok(match kind {
                PayloadKind::None => Payload::None,
                PayloadKind::Dns => Payload::Dns(case.payload(cx)?),
                PayloadKind::Tls => Payload::Tls(case.payload(cx)?),
                PayloadKind::U64 => Payload::U64(case.payload(cx)?),
                PayloadKind::U32 => Payload::U32(case.payload(cx)?),
                PayloadKind::OptionField => Payload::OptionField(case.payload(cx)?),
                PayloadKind::Field => Payload::Field(case.payload(cx)?),
                PayloadKind::String => Payload::String(case.payload(cx)?),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcx::{check_against_dynamic, check_labels, wit_type};
    use engine_abi::abi::Val;

    /// One value of every case, with payloads both empty and full.
    fn every_case() -> Vec<ErrorCode> {
        use ErrorCode as E;
        let field = FieldSizePayload {
            field_name: Some("x-long".into()),
            field_size: Some(70_000),
        };
        let mut all: Vec<ErrorCode> = (0..ErrorCode::CASES)
            .filter_map(ErrorCode::unit_case)
            .collect();
        all.extend([
            E::DnsError(DnsErrorPayload::default()),
            E::DnsError(DnsErrorPayload {
                rcode: Some("NXDOMAIN".into()),
                info_code: Some(3),
            }),
            E::TlsAlertReceived(TlsAlertReceivedPayload::default()),
            E::TlsAlertReceived(TlsAlertReceivedPayload {
                alert_id: Some(42),
                alert_message: Some("bad certificate ✗".into()),
            }),
            E::HttpRequestBodySize(None),
            E::HttpRequestBodySize(Some(u64::MAX)),
            E::HttpResponseBodySize(Some(1 << 40)),
            E::HttpRequestHeaderSectionSize(Some(9)),
            E::HttpRequestTrailerSectionSize(None),
            E::HttpResponseHeaderSectionSize(Some(u32::MAX)),
            E::HttpResponseTrailerSectionSize(Some(0)),
            E::HttpRequestHeaderSize(None),
            E::HttpRequestHeaderSize(Some(field.clone())),
            E::HttpRequestTrailerSize(FieldSizePayload::default()),
            E::HttpResponseHeaderSize(field.clone()),
            E::HttpResponseTrailerSize(FieldSizePayload {
                field_name: None,
                field_size: Some(1),
            }),
            E::HttpResponseTransferCoding(Some("chunked".into())),
            E::HttpResponseContentCoding(None),
            E::InternalError(None),
            E::internal("boom"),
        ]);
        all
    }

    fn option(v: Option<Val>) -> Val {
        Val::Option(v.map(Box::new))
    }

    fn string(s: &Option<String>) -> Val {
        option(s.clone().map(Val::String))
    }

    fn field_val(p: &FieldSizePayload) -> Val {
        Val::Record(vec![
            ("field-name".into(), string(&p.field_name)),
            ("field-size".into(), option(p.field_size.map(Val::U32))),
        ])
    }

    /// The dynamic ABI's value for `code`, built from the WIT's words.
    fn to_val(code: &ErrorCode) -> Val {
        use ErrorCode as E;
        let payload = match code {
            E::DnsError(p) => Some(Val::Record(vec![
                ("rcode".into(), string(&p.rcode)),
                ("info-code".into(), option(p.info_code.map(Val::U16))),
            ])),
            E::TlsAlertReceived(p) => Some(Val::Record(vec![
                ("alert-id".into(), option(p.alert_id.map(Val::U8))),
                ("alert-message".into(), string(&p.alert_message)),
            ])),
            E::HttpRequestBodySize(n) | E::HttpResponseBodySize(n) => Some(option(n.map(Val::U64))),
            E::HttpRequestHeaderSectionSize(n)
            | E::HttpRequestTrailerSectionSize(n)
            | E::HttpResponseHeaderSectionSize(n)
            | E::HttpResponseTrailerSectionSize(n) => Some(option(n.map(Val::U32))),
            E::HttpRequestHeaderSize(p) => Some(option(p.as_ref().map(field_val))),
            E::HttpRequestTrailerSize(p)
            | E::HttpResponseHeaderSize(p)
            | E::HttpResponseTrailerSize(p) => Some(field_val(p)),
            E::HttpResponseTransferCoding(s)
            | E::HttpResponseContentCoding(s)
            | E::InternalError(s) => Some(string(s)),
            _ => None,
        };
        Val::Variant(code.case().to_string(), payload.map(Box::new))
    }

    #[test]
    fn every_case_is_covered() {
        let all = every_case();
        for disc in 0..ErrorCode::CASES {
            assert!(
                all.iter().any(|c| c.discriminant() == disc),
                "case {disc} ({}) is not tested",
                LABELS[disc as usize]
            );
        }
    }

    #[test]
    fn the_type_is_the_wits() {
        assert_eq!(ErrorCode::ty(), wit_type("wasi:http/types", "error-code"));
        for p in [
            "DNS-error-payload",
            "TLS-alert-received-payload",
            "field-size-payload",
        ] {
            let ty = wit_type("wasi:http/types", p);
            assert!(
                [
                    DnsErrorPayload::ty(),
                    TlsAlertReceivedPayload::ty(),
                    FieldSizePayload::ty()
                ]
                .contains(&ty),
                "{p}"
            );
        }
    }

    #[test]
    fn case_names_match_the_rust_names() {
        check_labels(&every_case(), ErrorCode::case);
    }

    #[test]
    fn typed_lowering_is_the_dynamic_lowering() {
        for code in every_case() {
            check_against_dynamic(&code, &to_val(&code));
            // Inside the results wasi:http wraps it in.
            let wrapped: Option<Result<Result<u32, ErrorCode>, ()>> = Some(Ok(Err(code.clone())));
            let val = option(Some(Val::Result(Ok(Some(Box::new(Val::Result(Err(
                Some(Box::new(to_val(&code))),
            ))))))));
            check_against_dynamic(&wrapped, &val);
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            ErrorCode::HTTP_REQUEST_DENIED.to_string(),
            ErrorCode::HTTP_REQUEST_DENIED.case()
        );
        let internal = ErrorCode::internal("boom");
        assert_eq!(internal.to_string(), format!("{}(boom)", internal.case()));
        let size = ErrorCode::request_body_size(Some(3));
        assert_eq!(size.to_string(), format!("{}(3)", size.case()));
        assert_eq!(ErrorCode::request_body_size(None).to_string(), size.case());
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
        let what = match e.kind() {
            engine_abi::ErrorKind::Unsupported => "component not supported",
            _ => "invalid component",
        };
        Error::new(ErrorKind::Load, format!("{what}: {e}"))
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
