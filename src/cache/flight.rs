//! Single flight: identical concurrent misses share one upstream query. The first asker
//! for a key leads it; the others follow and get the leader's answer (or its failure).
//!
//! Nearly every miss is led and never followed, so a leader costs one entry in its shard's
//! map and nothing else: no channel, no allocation. Each follower brings its own one-shot
//! channel, and the leader's outcome is copied only to those.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::key::CacheKey;
use crate::dns::ede::Cause;

/// The outcome of a shared upstream query.
#[derive(Clone, Debug)]
pub enum Shared {
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
    /// Somebody is: wait for their outcome. The channel closes without a value only if
    /// the leader's task is gone before it could say (a panic): take that as a failure.
    Follower(oneshot::Receiver<Shared>),
}

/// Who waits for each upstream query under way, for one shard's keys.
type Followers = HashMap<CacheKey, Vec<oneshot::Sender<Shared>>>;

/// The upstream queries under way for one shard's keys.
#[derive(Default)]
pub(super) struct Inflight {
    queries: Mutex<Followers>,
}

impl Inflight {
    fn lock(&self) -> MutexGuard<'_, Followers> {
        self.queries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leads or follows the upstream query for `key`.
    pub(super) fn join(self: &Arc<Self>, key: &CacheKey) -> Flight {
        let mut inflight = self.lock();
        if let Some(followers) = inflight.get_mut(key) {
            let (tx, rx) = oneshot::channel();
            followers.push(tx);
            return Flight::Follower(rx);
        }
        // An empty Vec does not allocate.
        inflight.insert(key.clone(), Vec::new());
        Flight::Leader(Leader {
            inflight: self.clone(),
            key: key.clone(),
            finished: false,
        })
    }
}

/// The one query under way for a key. Dropping it unfinished fails the followers.
pub struct Leader {
    inflight: Arc<Inflight>,
    key: CacheKey,
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

    /// Frees the key (nobody new can follow once it has left the map), then sends
    /// `outcome()` to whoever followed.
    fn publish(mut self, outcome: impl FnOnce() -> Shared) {
        self.finished = true;
        send(take_followers(&self.inflight, &self.key), outcome);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            send(take_followers(&self.inflight, &self.key), || {
                Shared::Failed(None)
            });
        }
    }
}

fn take_followers(inflight: &Inflight, key: &CacheKey) -> Vec<oneshot::Sender<Shared>> {
    inflight.lock().remove(key).unwrap_or_default()
}

fn send(followers: Vec<oneshot::Sender<Shared>>, outcome: impl FnOnce() -> Shared) {
    if followers.is_empty() {
        return;
    }
    let outcome = outcome();
    for tx in followers {
        // A follower that gave up (its budget ran out) has dropped its end.
        let _ = tx.send(outcome.clone());
    }
}
