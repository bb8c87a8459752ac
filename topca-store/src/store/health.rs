//! What operators watch: a cheap liveness query, the pool's use, and the
//! length of the RA's approval queue.

use std::time::Duration;

use diesel::{connection::SimpleConnection, prelude::*};
use topca_core::{StoreError, lifecycle::RequestState};

use super::{DieselStore, Pools, backend, pool_error};
use crate::schema::requests;

/// How the connection pool is used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open (idle or lent out).
    pub connections: u32,
    /// Open connections waiting to be lent.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl DieselStore {
    /// Takes a connection within `wait` and runs `SELECT 1` on it: the database
    /// answers. Never waits on the pool longer than `wait`.
    pub fn ping(&self, wait: Duration) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite(pool) => pool
                .get_timeout(wait)
                .map_err(pool_error)?
                .batch_execute("SELECT 1"),
            Pools::Postgres(pool) => pool
                .get_timeout(wait)
                .map_err(pool_error)?
                .batch_execute("SELECT 1"),
        }
        .map_err(backend)
    }

    /// The pool's connections now (no database round trip).
    pub fn pool_use(&self) -> PoolUse {
        let (state, max) = match &self.pools {
            Pools::Sqlite(pool) => (pool.state(), pool.max_size()),
            Pools::Postgres(pool) => (pool.state(), pool.max_size()),
        };
        PoolUse {
            connections: state.connections,
            idle: state.idle_connections,
            max,
        }
    }

    /// How many requests wait for an RA administrator's decision, in every account.
    pub fn requests_awaiting_approval(&self) -> Result<u64, StoreError> {
        let state = i32::from(RequestState::Submitted.code());
        let count: i64 = read!(self, |c| requests::table
            .filter(requests::state.eq(state))
            .count()
            .get_result(c)
            .map_err(backend)?);
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
