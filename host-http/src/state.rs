//! Per-request host state, the store data of every request's instance: the
//! [`Table`] of the host resources the request's guest holds, what all
//! requests of a handler share, the request id, and its outgoing-request
//! budget. It names no WIT resource type: each interface's file owns its
//! own.

use std::sync::Arc;

use engine_abi::Trap;
use engine_abi::abi::typed::{HostResource, Own};

use crate::client::Client;
use crate::config::Config;
use crate::table::{Entry, Table};

/// What all requests of a handler share.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The outgoing client.
    pub client: Arc<Client>,
}

/// The per-request state.
pub struct State {
    /// The request's resources.
    pub table: Table,
    /// What all requests of a handler share: config, limits, client.
    pub shared: Arc<Shared>,
    /// The request id, for logs.
    pub id: u64,
    /// Whether `response-outparam.set` was called.
    pub response_set: bool,
    /// Outgoing requests this request may still start.
    pub outgoing: Arc<tokio::sync::Semaphore>,
    /// What this request may still send to the host's log.
    pub log: LogBudget,
}

/// Bytes of stdout and stderr a request may still log.
pub struct LogBudget {
    /// Bytes left.
    pub left: u64,
    /// Whether the log already said that the rest is dropped.
    pub cut: bool,
}

impl State {
    /// Add `value` to the table and hand it to the guest as an `own`.
    pub fn own<T: Entry + HostResource>(&mut self, value: T) -> Result<Own<T>, Trap> {
        self.table.push(value).map(Own::new)
    }

    /// Add `value` as a child of `parent` and hand it to the guest as an
    /// `own`.
    pub fn own_child<T: Entry + HostResource>(
        &mut self,
        value: T,
        parent: u32,
    ) -> Result<Own<T>, Trap> {
        self.table.push_child(value, parent).map(Own::new)
    }
}
