//! The configuration of a handler: the guest's limits ([`Config`]) and what
//! it may fetch ([`OutgoingPolicy`]), each limit with a named default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use engine_abi::engine::StoreLimits;

use crate::error::Error;

/// Limits and policy of a [`Handler`](crate::Handler). Every limit has a named default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest linear memory of a request's instance, in bytes.
    pub max_memory_bytes: usize,
    /// Time budget of one request, from instantiation to the guest's return.
    pub timeout: Option<Duration>,
    /// Largest header (and trailer) section a guest may build, in bytes.
    pub max_header_bytes: usize,
    /// Largest request or response body, in bytes.
    pub max_body_bytes: u64,
    /// What the guest may fetch with `wasi:http/outgoing-handler`.
    pub outgoing: OutgoingPolicy,
    /// How many requests one instance serves, one after another, before it
    /// is dropped (1: a fresh instance per request). A reused instance
    /// keeps its linear memory, so what a guest stores there is visible
    /// to the next request it serves.
    pub max_instance_reuse_count: u32,
    /// How long an idle instance is kept for reuse.
    pub idle_instance_timeout: Duration,
    /// Bytes of `wasi:cli/stdout` and `stderr` one request may send to the
    /// host's log; past it, one log line says so and the rest is dropped
    /// (the guest's writes still succeed).
    pub max_log_bytes: u64,
    /// Host resources (fields, bodies, streams, pollables, futures…) one
    /// request may hold at once; past it, the call that would make one
    /// more traps.
    pub max_host_resources: usize,
    /// Instances alive at once, running or idle (kept for reuse); past it,
    /// an idle one is dropped to make room, or, if all are running, the
    /// request gets 503.
    pub max_instances: usize,
}

impl Config {
    /// The default memory limit: 256 MiB.
    pub const DEFAULT_MAX_MEMORY_BYTES: usize = StoreLimits::DEFAULT_MAX_MEMORY_BYTES;
    /// The default time budget: 60 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default header section limit: 64 KiB.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
    /// The default body limit: 1 GiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 30;
    /// By default each request gets a fresh instance, as `wasmtime serve`
    /// does for wasi:http 0.2 components.
    pub const DEFAULT_MAX_INSTANCE_REUSE_COUNT: u32 = 1;
    /// The default log budget of a request: 1 MiB.
    pub const DEFAULT_MAX_LOG_BYTES: u64 = 1 << 20;
    /// The default idle time of a reusable instance: 1 s, as `wasmtime
    /// serve`'s.
    pub const DEFAULT_IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default cap on a request's host resources: 100 000.
    pub const DEFAULT_MAX_HOST_RESOURCES: usize = crate::table::MAX_RESOURCES;
    /// The default cap on instances alive at once: 1 000, the server's
    /// default concurrency cap.
    pub const DEFAULT_MAX_INSTANCES: usize = 1000;

    /// Set the memory limit.
    pub fn max_memory_bytes(mut self, n: usize) -> Self {
        self.max_memory_bytes = n;
        self
    }
    /// Set the time budget (`None`: unlimited).
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }
    /// Set the header section limit.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }
    /// Let one instance serve up to `n` requests one after another (1, or
    /// 0, for a fresh instance per request).
    pub fn max_instance_reuse_count(mut self, n: u32) -> Self {
        self.max_instance_reuse_count = n.max(1);
        self
    }
    /// Set how long an idle instance is kept for reuse.
    pub fn idle_instance_timeout(mut self, t: Duration) -> Self {
        self.idle_instance_timeout = t;
        self
    }
    /// Set how many bytes of stdout and stderr a request may log.
    pub fn max_log_bytes(mut self, n: u64) -> Self {
        self.max_log_bytes = n;
        self
    }
    /// Set the body limit.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// Set how many host resources one request may hold at once.
    pub fn max_host_resources(mut self, n: usize) -> Self {
        self.max_host_resources = n;
        self
    }
    /// Set how many instances may be alive at once (at least 1).
    pub fn max_instances(mut self, n: usize) -> Self {
        self.max_instances = n.max(1);
        self
    }
    /// Set the time an outgoing request may take to connect (TCP and
    /// TLS): the default, and the most a guest may ask for in
    /// `request-options`.
    pub fn outgoing_connect_timeout(mut self, t: Duration) -> Self {
        self.outgoing.timeouts.connect = t;
        self
    }
    /// Set the time an outgoing request may wait for its response head:
    /// the default, and the most a guest may ask for.
    pub fn outgoing_first_byte_timeout(mut self, t: Duration) -> Self {
        self.outgoing.timeouts.first_byte = t;
        self
    }
    /// Set the time an outgoing response may go without a body chunk: the
    /// default, and the most a guest may ask for.
    pub fn outgoing_between_bytes_timeout(mut self, t: Duration) -> Self {
        self.outgoing.timeouts.between_bytes = t;
        self
    }
    /// Allow outgoing requests to `host` (`http://127.0.0.1:8080`,
    /// `https://example.com`, `example.com`, `*`).
    pub fn allow_host(mut self, host: &str) -> Result<Self, Error> {
        self.outgoing
            .allowed_hosts
            .push(host.parse().map_err(Error::config)?);
        Ok(self)
    }
    /// Set the cap on concurrent outgoing requests per request.
    pub fn max_outgoing(mut self, n: usize) -> Self {
        self.outgoing.max_concurrent = n;
        self
    }
    /// Trust the certificates in `pem` (one or more `CERTIFICATE` blocks)
    /// as roots for https, besides the Mozilla roots: for a private CA.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::config(format!("bad PEM: {e}")))?;
            self.outgoing.extra_roots.push(cert.to_vec());
            n += 1;
        }
        if n == 0 {
            return Err(Error::config("no CERTIFICATE in the PEM data".to_string()));
        }
        Ok(self)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            timeout: Some(Self::DEFAULT_TIMEOUT),
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            outgoing: OutgoingPolicy::default(),
            max_instance_reuse_count: Self::DEFAULT_MAX_INSTANCE_REUSE_COUNT,
            idle_instance_timeout: Self::DEFAULT_IDLE_INSTANCE_TIMEOUT,
            max_log_bytes: Self::DEFAULT_MAX_LOG_BYTES,
            max_host_resources: Self::DEFAULT_MAX_HOST_RESOURCES,
            max_instances: Self::DEFAULT_MAX_INSTANCES,
        }
    }
}

/// Connecting (TCP and TLS), by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for the response head, by default.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Waiting between response body chunks, by default.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

/// The timeouts of outgoing requests. Each is what a request gets when its
/// `request-options` do not say, and the most a guest may ask for: a guest
/// asking for more gets this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutgoingTimeouts {
    /// Connecting (TCP and TLS).
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Between body chunks of the response.
    pub between_bytes: Duration,
}

impl Default for OutgoingTimeouts {
    fn default() -> Self {
        OutgoingTimeouts {
            connect: DEFAULT_CONNECT_TIMEOUT,
            first_byte: DEFAULT_FIRST_BYTE_TIMEOUT,
            between_bytes: DEFAULT_BETWEEN_BYTES_TIMEOUT,
        }
    }
}
/// Concurrent outgoing requests per incoming request, by default.
pub const DEFAULT_MAX_OUTGOING: usize = 8;

/// One entry of the allowed-hosts list: a scheme (or any), a host (or `*`)
/// and a port (or any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    /// `http://127.0.0.1:8080`, `https://example.com`, `example.com` (any
    /// scheme and port), `*` (anything).
    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, rest)) => (Some(sc.to_ascii_lowercase()), rest),
            None => (None, s),
        };
        if let Some(sc) = &scheme
            && sc != "http"
            && sc != "https"
        {
            return Err(format!("allowed host `{s}`: scheme must be http or https"));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(format!("allowed host `{s}` has a path"));
        }
        if rest == "*" {
            return Ok(AllowedHost {
                scheme,
                host: "*".into(),
                port: None,
            });
        }
        let auth =
            http::uri::Authority::from_str(rest).map_err(|e| format!("allowed host `{s}`: {e}"))?;
        Ok(AllowedHost {
            scheme,
            host: auth.host().to_ascii_lowercase(),
            port: auth.port_u16(),
        })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scheme {
            write!(f, "{s}://")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl AllowedHost {
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && (self.host == "*" || self.host.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

/// What the guest may fetch.
#[derive(Clone, Debug)]
pub struct OutgoingPolicy {
    /// The hosts it may reach; empty: none.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Concurrent outgoing requests per incoming request.
    pub max_concurrent: usize,
    /// Certificates (DER) trusted as roots for https, besides the Mozilla
    /// roots: a private CA.
    pub extra_roots: Vec<Vec<u8>>,
    /// Timeouts: defaults, and ceilings for what a guest asks.
    pub timeouts: OutgoingTimeouts,
}

impl Default for OutgoingPolicy {
    fn default() -> Self {
        OutgoingPolicy {
            allowed_hosts: Vec::new(),
            max_concurrent: DEFAULT_MAX_OUTGOING,
            extra_roots: Vec::new(),
            timeouts: OutgoingTimeouts::default(),
        }
    }
}

impl OutgoingPolicy {
    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed_hosts
            .iter()
            .any(|a| a.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts() {
        let p = OutgoingPolicy {
            allowed_hosts: vec![
                "http://127.0.0.1:8080".parse().unwrap(),
                "https://Example.com".parse().unwrap(),
                "any.org".parse().unwrap(),
            ],
            ..OutgoingPolicy::default()
        };
        assert!(p.allows("http", "127.0.0.1", 8080));
        assert!(!p.allows("http", "127.0.0.1", 8081));
        assert!(!p.allows("https", "127.0.0.1", 8080));
        assert!(p.allows("https", "example.com", 443));
        assert!(p.allows("https", "example.com", 8443));
        assert!(!p.allows("http", "example.com", 80));
        assert!(p.allows("http", "any.org", 1));
        assert!(!OutgoingPolicy::default().allows("http", "127.0.0.1", 80));
        assert!("ftp://x".parse::<AllowedHost>().is_err());
        assert!("http://x/path".parse::<AllowedHost>().is_err());
        let star: AllowedHost = "*".parse().unwrap();
        assert!(star.allows("https", "anything", 1));
    }
}
