//! Single flight: identical concurrent misses share one upstream query. The first asker
//! for a key leads it; the others follow and get the leader's answer (or its failure).

use std::sync::Arc;

use tokio::sync::watch;

use super::{Cache, CacheKey};
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

/// The one query under way for a key. Dropping it unfinished fails the followers.
pub struct Leader {
    cache: Arc<Cache>,
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
        self.cache
            .shard(&self.key)
            .lock_inflight()
            .remove(&self.key);
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
            self.cache
                .shard(&self.key)
                .lock_inflight()
                .remove(&self.key);
        }
    }
}

impl Cache {
    /// Leads or follows the upstream query for `key`.
    pub fn join(self: &Arc<Self>, key: &CacheKey) -> Flight {
        let mut inflight = self.shard(key).lock_inflight();
        if let Some(rx) = inflight.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(Shared::Pending);
        inflight.insert(key.clone(), rx);
        Flight::Leader(Leader {
            cache: self.clone(),
            key: key.clone(),
            tx,
            finished: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::fixtures::{query, settings};

    #[test]
    fn a_leader_without_followers_copies_nothing_and_frees_the_key() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1), false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        leader.finish(Some(&b"answer"[..]));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn concurrent_misses_coalesce() {
        let cache = Arc::new(Cache::new(settings()));
        let q = query(b"\x01a\x00", 1);
        let key = CacheKey::of(&q, false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(mut rx) = cache.join(&key) else {
            panic!("second follows")
        };
        leader.finish(Some(&b"answer"[..]));
        rx.changed().await.unwrap();
        assert!(matches!(&*rx.borrow(), Shared::Done(a) if &a[..] == b"answer"));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn followers_learn_why_the_leader_failed() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1), false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(mut rx) = cache.join(&key) else {
            panic!("second follows")
        };
        let bogus = Cause::Bogus {
            info_code: 7,
            reason: "signature expired",
        };
        leader.fail(bogus);
        rx.changed().await.unwrap();
        assert!(matches!(&*rx.borrow(), Shared::Failed(Some(c)) if *c == bogus));
    }
}
