//! The one path a query takes: **listener -> validate -> upstream pool -> response**.
//!
//! Each stage returns a small outcome, so the order of checks is visible here:
//! [`Forwarder::prepare`] runs, cheapest first, the validator (runts and responses are
//! dropped before anything else), the access list (REFUSED), the per-client rate limiter
//! (drop or TC=1 slip over UDP, REFUSED over TCP), then either answers a malformed query
//! itself or hands the valid query on; [`Forwarder::answer`] sends a valid query through
//! the pool within its end-to-end budget and shapes the reply for the client's transport.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::watch;

use crate::acl::Acl;
use crate::cache::{client_view, Cache, CacheKey, Flight, Lookup, Shared};
use crate::dns::answer::{restore_client_view, truncated_answer};
use crate::dns::edns::{answer_for_client, upstream_query, Privacy};
use crate::dns::query::flags;
use crate::dns::query::{validate, Rejection, ValidQuery};
use crate::dns::Rcode;
use crate::limiter::{Limiter, Verdict};
use crate::metrics::Metrics;
use crate::upstream::plain::{self, in_zone, ZoneConfig};
use crate::upstream::pool::Pool;

/// What to do with one message from a client.
#[derive(Debug)]
pub enum Prepared {
    /// Send nothing back.
    Drop,
    /// Send this synthesized answer back at once.
    Answer(Vec<u8>),
    /// Forward this query upstream.
    Forward(ValidQuery),
}

/// What [`Forwarder::early`] found.
pub enum Early {
    /// The answer, at once (from the cache).
    Answer(Vec<u8>),
    /// Nothing yet: pass this to [`Forwarder::later`].
    Later(Later),
}

/// What [`Forwarder::later`] needs from [`Forwarder::early`].
pub struct Later {
    /// The cache key (`None`: the cache is off).
    key: Option<CacheKey>,
    /// An expired answer to give if every upstream fails (RFC 8767).
    stale: Option<Vec<u8>>,
}

/// The forwarder in force; a policy reload swaps it while listeners keep running.
/// Queries already under way finish with the forwarder they started with.
pub struct Switch {
    current: std::sync::RwLock<Arc<Forwarder>>,
}

impl Switch {
    /// A switch holding `forwarder`.
    pub fn new(forwarder: Arc<Forwarder>) -> Switch {
        Switch {
            current: std::sync::RwLock::new(forwarder),
        }
    }

    /// The forwarder in force now.
    pub fn get(&self) -> Arc<Forwarder> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts `forwarder` in force; returns the one it replaces.
    pub fn replace(&self, forwarder: Arc<Forwarder>) -> Arc<Forwarder> {
        std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
            forwarder,
        )
    }
}

/// Who may use the forwarder, and how much.
pub struct ClientPolicy {
    /// Allowed client prefixes.
    pub acl: Acl,
    /// Local zones forwarded in plain DNS.
    pub zones: Vec<ZoneConfig>,
    /// Per-client rate limiter (`None`: off).
    pub limiter: Option<Arc<Limiter>>,
    /// Log each query.
    pub log_queries: bool,
}

/// The client transport, which decides how large an answer may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers above the client's limit become TC=1 answers.
    Udp,
    /// TCP: any answer up to 65535 octets.
    Tcp,
}

/// The forwarding pipeline shared by every listener.
pub struct Forwarder {
    pool: Arc<Pool>,
    /// The answer cache (`None`: off).
    cache: Option<Arc<Cache>>,
    /// Who may query.
    acl: Acl,
    /// Per-client rate limiter; `None` when rate limiting is off.
    limiter: Option<Arc<Limiter>>,
    /// Log each query (client, name, type): opt-in.
    log_queries: bool,
    /// Local zones answered by local servers in plain DNS.
    zones: Vec<ZoneConfig>,
    /// How queries are rewritten for the upstream (padding, ECS).
    privacy: Privacy,
    /// End-to-end budget of one query, from receipt to answer.
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// A forwarder over `pool` giving each query `timeout`.
    pub fn new(
        pool: Arc<Pool>,
        cache: Option<Arc<Cache>>,
        policy: ClientPolicy,
        privacy: Privacy,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Forwarder {
        Forwarder {
            pool,
            cache,
            acl: policy.acl,
            limiter: policy.limiter,
            log_queries: policy.log_queries,
            zones: policy.zones,
            privacy,
            timeout,
            metrics,
        }
    }

    /// The upstream pool.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The cache, if on.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.cache.as_ref()
    }

    /// Decides what to do with one message from `client`.
    pub fn prepare(&self, msg: &[u8], client: IpAddr, transport: Transport) -> Prepared {
        let checked = validate(msg);
        if let Err(Rejection::Drop(reason)) = &checked {
            self.metrics.dropped.inc();
            tracing::trace!(?reason, "message dropped");
            return Prepared::Drop;
        }
        if !self.acl.allows(client) {
            self.metrics.acl_refused.inc();
            // Strangers get REFUSED to a well-formed query and nothing otherwise.
            return match checked {
                Ok(q) => Prepared::Answer(q.error_answer(Rcode::Refused)),
                Err(_) => Prepared::Drop,
            };
        }
        if let Some(limiter) = &self.limiter {
            let verdict = limiter.check(client, transport == Transport::Udp);
            if verdict != Verdict::Allow {
                self.metrics.rate_limited.inc();
                return match (verdict, checked) {
                    (Verdict::Slip, Ok(q)) => {
                        // An empty TC=1 answer: a real client behind a busy address
                        // retries over TCP, a spoofed victim receives no amplification.
                        let flags = flags::QR | flags::RA | (q.flags() & flags::RD);
                        Prepared::Answer(truncated_answer(flags, &q))
                    }
                    (_, Ok(q)) if transport == Transport::Tcp => {
                        Prepared::Answer(q.error_answer(Rcode::Refused))
                    }
                    _ => Prepared::Drop,
                };
            }
        }
        match checked {
            Ok(q) => {
                if self.log_queries {
                    tracing::info!(
                        %client,
                        name = %crate::dns::name_to_text(q.qname()),
                        qtype = q.qtype(),
                        ?transport,
                        "query"
                    );
                }
                Prepared::Forward(q)
            }
            Err(Rejection::Reply {
                rcode,
                reason,
                answer,
            }) => {
                self.metrics.rejected.inc();
                tracing::trace!(?rcode, reason, "query rejected");
                Prepared::Answer(answer)
            }
            Err(Rejection::Drop(_)) => Prepared::Drop,
        }
    }

    /// Answers a valid query: from the cache when it can, else through the upstreams
    /// (identical concurrent misses share one upstream query). The answer carries the
    /// client's ID and question; SERVFAIL (or a stale answer, with `--serve-stale`) if no
    /// upstream answered within the budget; TC=1 if it is too large for the client's UDP.
    pub async fn answer(self: &Arc<Self>, query: ValidQuery, transport: Transport) -> Vec<u8> {
        match self.early(&query, transport) {
            Early::Answer(answer) => answer,
            Early::Later(later) => self.later(&query, later, transport).await,
        }
    }

    /// What can be said about `query` without waiting: a fresh cached answer, or what the
    /// rest of [`Forwarder::answer`] needs.
    pub fn early(self: &Arc<Self>, query: &ValidQuery, transport: Transport) -> Early {
        let Some(cache) = &self.cache else {
            return Early::Later(Later {
                key: None,
                stale: None,
            });
        };
        let key = CacheKey::of(query);
        let stale = match cache.lookup(&key, query, Instant::now()) {
            Lookup::Fresh(answer, prefetch) => {
                self.metrics.cache_hits.inc();
                if prefetch {
                    self.prefetch(cache.clone(), key, query.clone());
                }
                return Early::Answer(self.fit(answer, query, transport));
            }
            Lookup::Stale(answer) => Some(answer),
            Lookup::Miss => None,
        };
        self.metrics.cache_misses.inc();
        Early::Later(Later {
            key: Some(key),
            stale,
        })
    }

    /// The rest of [`Forwarder::answer`] after [`Forwarder::early`] found no answer.
    pub async fn later(
        self: &Arc<Self>,
        query: &ValidQuery,
        later: Later,
        transport: Transport,
    ) -> Vec<u8> {
        let reply = match (&self.cache, later.key) {
            (Some(cache), Some(key)) => self.fetch_cached(cache, key, later.stale, query).await,
            _ => self.fetch(query).await,
        };
        let Some(reply) = reply else {
            self.metrics.servfail.inc();
            return query.error_answer(Rcode::ServFail);
        };
        self.fit(reply, query, transport)
    }

    /// `reply`, or a TC=1 answer if it is too large for the client's UDP.
    fn fit(&self, reply: Vec<u8>, query: &ValidQuery, transport: Transport) -> Vec<u8> {
        if transport == Transport::Udp && reply.len() > query.udp_limit() {
            self.metrics.truncated.inc();
            let flags = u16::from_be_bytes([reply[2], reply[3]]);
            return truncated_answer(flags, query);
        }
        reply
    }

    /// One upstream query within the budget: the answer as this client should see it.
    async fn fetch(&self, query: &ValidQuery) -> Option<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        if let Some(zone) = self.zones.iter().find(|z| in_zone(query.qname(), &z.wire)) {
            // A local zone the policy sends to a local server in plain DNS.
            let (mut reply, info) = plain::exchange(&zone.servers, query, deadline).await?;
            restore_client_view(&mut reply, &info, query);
            self.metrics.answered.inc();
            return Some(reply);
        }
        let wire = upstream_query(query, &self.privacy);
        match self.pool.resolve(query, &wire, deadline).await {
            Ok((mut reply, info)) => {
                restore_client_view(&mut reply, &info, query);
                answer_for_client(&mut reply, &info, query.edns().is_some());
                self.metrics.answered.inc();
                Some(reply)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no upstream answer");
                None
            }
        }
    }

    async fn fetch_cached(
        self: &Arc<Self>,
        cache: &Arc<Cache>,
        key: CacheKey,
        stale: Option<Vec<u8>>,
        query: &ValidQuery,
    ) -> Option<Vec<u8>> {
        let fetched = match cache.join(&key) {
            Flight::Leader(leader) => match self.fetch(query).await {
                Some(msg) => {
                    let answer = cache.insert(key, msg, query, Instant::now());
                    leader.finish(Some(&answer));
                    Some(answer)
                }
                None => {
                    leader.finish(None);
                    None
                }
            },
            Flight::Follower(rx) => {
                self.metrics.cache_coalesced.inc();
                self.follow(rx, query).await
            }
        };
        if fetched.is_some() {
            return fetched;
        }
        // RFC 8767: every upstream failed; an expired answer is better than none.
        let answer = stale?;
        self.metrics.cache_stale.inc();
        Some(answer)
    }

    /// Waits (within the budget) for the query another client started for the same key.
    async fn follow(&self, mut rx: watch::Receiver<Shared>, query: &ValidQuery) -> Option<Vec<u8>> {
        let outcome = tokio::time::timeout(self.timeout, async {
            loop {
                let now = rx.borrow_and_update().clone();
                if !matches!(now, Shared::Pending) {
                    return now;
                }
                if rx.changed().await.is_err() {
                    return Shared::Failed;
                }
            }
        })
        .await
        .unwrap_or(Shared::Failed);
        match outcome {
            Shared::Done(msg) => {
                let mut out = msg.to_vec();
                client_view(&mut out, query);
                Some(out)
            }
            Shared::Pending | Shared::Failed => None,
        }
    }

    /// Refreshes a popular entry before it expires, off the client's path.
    fn prefetch(self: &Arc<Self>, cache: Arc<Cache>, key: CacheKey, query: ValidQuery) {
        let Flight::Leader(leader) = cache.join(&key) else {
            return;
        };
        self.metrics.cache_prefetches.inc();
        let this = self.clone();
        tokio::spawn(async move {
            match this.fetch(&query).await {
                Some(msg) => {
                    let answer = cache.insert(key, msg, &query, Instant::now());
                    leader.finish(Some(&answer));
                }
                None => leader.finish(None),
            }
        });
    }
}
