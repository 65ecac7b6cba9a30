//! Single flight: identical concurrent misses share one upstream query. The first asker
//! for a key leads it; the others follow and get the leader's answer (or its failure).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::key::CacheKey;
use crate::dns::ede::Cause;

/// The outcome of a shared upstream query.
#[derive(Clone, Debug)]
pub enum Shared {
    /// Still under way.
    Pending,
    /// The answer, as the leader's client got it.
    Done(Arc<[u8]>),
    /// The leader got no answer; why, when it knows (a DNSSEC verdict holds for
    /// every client of the key, so the followers say the same).
    Failed(Option<Cause>),
}

/// Joining a query for a key: lead it, or follow the one under way.
pub enum Flight {
    /// Nobody is asking yet: resolve, then call [`Leader::finish`].
    Leader(Leader),
    /// Somebody is: wait for their outcome.
    Follower(watch::Receiver<Shared>),
}

/// The upstream queries under way for one shard's keys.
#[derive(Default)]
pub(super) struct Inflight {
    queries: Mutex<HashMap<CacheKey, watch::Receiver<Shared>>>,
}

impl Inflight {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, watch::Receiver<Shared>>> {
        self.queries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leads or follows the upstream query for `key`.
    pub(super) fn join(self: &Arc<Self>, key: &CacheKey) -> Flight {
        let mut inflight = self.lock();
        if let Some(rx) = inflight.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(Shared::Pending);
        inflight.insert(key.clone(), rx);
        Flight::Leader(Leader {
            inflight: self.clone(),
            key: key.clone(),
            tx,
            finished: false,
        })
    }
}

/// The one query under way for a key. Dropping it unfinished fails the followers.
pub struct Leader {
    inflight: Arc<Inflight>,
    key: CacheKey,
    tx: watch::Sender<Shared>,
    finished: bool,
}

impl Leader {
    /// Publishes the outcome to the followers: the answer (as the leader's client got
    /// it), or `None` if there was none. Copies the answer only if somebody follows.
    pub fn finish(self, answer: Option<&[u8]>) {
        self.publish(|| answer.map_or(Shared::Failed(None), |a| Shared::Done(Arc::from(a))));
    }

    /// Publishes a failure with its cause.
    pub fn fail(self, cause: Cause) {
        self.publish(|| Shared::Failed(Some(cause)));
    }

    /// Frees the key, then sends `outcome()` if anybody follows.
    fn publish(mut self, outcome: impl FnOnce() -> Shared) {
        self.finished = true;
        // Once the key has left the in-flight map nobody new can follow, and the map's own
        // receiver is gone: whoever still holds a receiver is a follower.
        self.inflight.lock().remove(&self.key);
        if self.tx.receiver_count() == 0 {
            return;
        }
        let _ = self.tx.send(outcome());
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Shared::Failed(None));
            self.inflight.lock().remove(&self.key);
        }
    }
}
