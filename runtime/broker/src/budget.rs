//! The request budget (`queued.max.request.bytes`): how many bytes of requests the broker
//! holds read but not yet answered, shared fairly between connections and principals.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of requests read but not yet answered (`queued.max.request.bytes`): a frame takes
/// its size in permits before its body is read and gives them back once its response is
/// written. One connection may hold a sixteenth of the budget and one logged-in principal
/// (all its connections) a quarter, so a few clients that send slowly, or send and never read, cannot
/// stall the others: a logged-in user that holds its quarter leaves the workers and every
/// other user the rest.
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    total: usize,
    per_connection: usize,
    per_principal: usize,
    principals: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One request's share of the budget: the connection's, the principal's and the broker's.
pub(crate) struct Reserved {
    _connection: OwnedSemaphorePermit,
    _principal: OwnedSemaphorePermit,
    _broker: OwnedSemaphorePermit,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Budget {
        let total = total.clamp(16, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Budget {
            permits: Arc::new(Semaphore::new(total)),
            total,
            per_connection: total / 16,
            per_principal: total / 4,
            principals: Default::default(),
        }
    }

    /// A new connection's own share.
    pub(crate) fn connection(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.per_connection))
    }

    /// The share of every connection of `principal` together (kept while the broker runs:
    /// principals are the users that logged in, and certificate subjects). Clients that did
    /// not log in (a PLAINTEXT or SSL listener without client certificates) are not one
    /// principal but many strangers: each connection gets a share of its own.
    pub(crate) fn principal(&self, principal: &str) -> Arc<Semaphore> {
        if principal == connectd_security::ANONYMOUS {
            return Arc::new(Semaphore::new(self.per_principal));
        }
        let mut principals = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        principals
            .entry(principal.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_principal)))
            .clone()
    }

    /// Waits for room for a frame of `size` bytes in the connection's share, then the
    /// principal's, then the broker's (always in this order). A frame larger than a share
    /// takes all of it.
    pub(crate) async fn reserve(
        &self,
        connection: &Arc<Semaphore>,
        principal: &Arc<Semaphore>,
        size: usize,
    ) -> Reserved {
        let take = |sem: &Arc<Semaphore>, cap: usize| {
            sem.clone().acquire_many_owned(size.clamp(1, cap) as u32)
        };
        let closed = "the budget's semaphores are never closed";
        let connection = take(connection, self.per_connection).await.expect(closed);
        let principal = take(principal, self.per_principal).await.expect(closed);
        let broker = take(&self.permits, self.total).await.expect(closed);
        Reserved {
            _connection: connection,
            _principal: principal,
            _broker: broker,
        }
    }
}
