//! The pipeline: every client message, whatever its transport, takes one path through
//! [`Forwarder::handle`], whose stages run cheapest first and each end in a named outcome:
//!
//! ```text
//! header sanity   runt or QR=1                      -> drop (never reflect)
//! allow list      client outside it                 -> REFUSED (plain shape) or drop
//! rate limiter    over its prefix's budget          -> TC=1 slip (UDP), REFUSED (TCP/TLS), drop
//! validation      full parse: FORMERR/NOTIMP/BADVERS -> that answer; else a ValidQuery
//! cache           fresh answer                      -> answer now
//! admission       pending cap reached               -> SERVFAIL now
//! upstream        (or a local zone's server)        -> answer later (Forwarding::answer)
//! DNSSEC          bogus -> SERVFAIL + EDE 6-12; AD when secure; DNSSEC records for DO only
//! for the client  client ID, question, TC=1 for UDP, padding over TLS, counted by transport
//! ```
//!
//! With validation on, every upstream query asks for DNSSEC records unchecked (DO=1, CD=1)
//! and the answer is judged before it is cached: a bogus answer is never cached, a client
//! that set CD gets the answer unjudged (and cached apart: CD is in the cache key), a
//! client that did not set DO gets it without RRSIG, NSEC and NSEC3 records. The DS and
//! DNSKEY records the validator needs are asked through this same pipeline's cache and
//! upstreams ([`ChainFetch`]): padded, cached and coalesced like client queries.
//!
//! A refused or limited client never causes a full parse or a copy of its message: the
//! stages before validation read only the header (and, to answer, the question in place).
//! Listeners do I/O only: they hand bytes, the client address and the [`Transport`] in and
//! send what comes out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::acl::{canonical, Acl};
use crate::cache::{client_view, Cache, CacheKey, Flight, Lookup, Shared};
use crate::dns::answer::{restore_client_view, truncated_answer};
use crate::dns::ede::{self, Cause};
use crate::dns::edns::{answer_for_client, own_subnet_echo, upstream_query, Privacy};
use crate::dns::header::{self, flags, Glance};
use crate::dns::query::{validate, Rejection, ValidQuery};
use crate::dns::strip::strip_dnssec;
use crate::dns::Rcode;
use crate::dns::{opt, padding};
use crate::dnssec::{self, Fetch, Validator};
use crate::limiter::{Limiter, Verdict};
use crate::metrics::Metrics;
use crate::upstream::plain::{self, in_zone, ZoneConfig};
use crate::upstream::pool::{Pool, PoolError, UpstreamFailure};

pub use crate::transport::Transport;

/// What the pipeline decided for one client message.
pub enum Outcome {
    /// Send nothing back.
    Drop,
    /// Send this answer back at once (a refusal, an error, a cache hit).
    Answer(Vec<u8>),
    /// The query goes upstream; [`Forwarding::answer`] yields the answer to send.
    Forward(Forwarding),
}

/// An answer for a forwarded query.
enum Fetched {
    /// From an upstream (or the identical query another client started).
    Fresh(Vec<u8>),
    /// Expired, from the cache, because every upstream failed (RFC 8767).
    Stale(Vec<u8>),
}

/// A query admitted upstream. It holds its place under the pending cap until answered.
pub struct Forwarding {
    forwarder: Arc<Forwarder>,
    query: ValidQuery,
    transport: Transport,
    /// The cache key (`None`: the cache is off).
    key: Option<CacheKey>,
    /// An expired answer to give if every upstream fails (RFC 8767).
    stale: Option<Vec<u8>>,
    /// The place under `--max-pending`, released when the answer is ready.
    _pending: OwnedSemaphorePermit,
    /// When the client's message arrived.
    received: Instant,
}

impl Forwarding {
    /// Resolves the query within its budget (identical concurrent misses share one upstream
    /// query) and returns the answer for the client: its ID and question, SERVFAIL (or a
    /// stale answer, with `--serve-stale`) if no upstream answered in time, TC=1 if too
    /// large for the client's UDP.
    pub async fn answer(self) -> Vec<u8> {
        let Forwarding {
            forwarder: fw,
            query,
            transport,
            key,
            stale,
            _pending,
            received,
        } = self;
        let deadline = Instant::now() + fw.timeout;
        let reply = match (&fw.cache, key) {
            (Some(cache), Some(key)) => fw.fetch_cached(cache, key, stale, &query, deadline).await,
            _ => fw.fetch(&query, deadline).await.map(Fetched::Fresh),
        };
        let client_do = query.edns().map(|e| e.dnssec_ok);
        let mut answer = match reply {
            Ok(Fetched::Fresh(reply)) => fw.for_client(reply, &query, transport),
            Ok(Fetched::Stale(reply)) => {
                let cause = if reply.get(3).is_some_and(|b| b & 0x0F == 3) {
                    Cause::StaleNxDomain
                } else {
                    Cause::Stale
                };
                let mut reply = fw.for_client(reply, &query, transport);
                ede::attach(&mut reply, cause, client_do);
                reply
            }
            Err(cause) => {
                fw.metrics.servfail.inc();
                let mut answer = query.error_answer(Rcode::ServFail);
                ede::attach(&mut answer, cause, client_do);
                answer
            }
        };
        pad_for(transport, query.bytes(), &mut answer);
        answered(&fw.metrics, transport, &answer, received);
        answer
    }
}

/// Counts an answer sent over `transport` to a message that arrived at `received`, and logs
/// its outcome at debug level (never the name: `--log-queries` logs that at info level).
fn answered(metrics: &Metrics, transport: Transport, answer: &[u8], received: Instant) {
    let elapsed = received.elapsed();
    metrics.count_response(transport, answer);
    metrics.observe_request(transport, elapsed);
    tracing::debug!(
        transport = transport.label(),
        rcode = answer.get(3).map_or(0, |b| b & 0x0F),
        elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "answered"
    );
}

/// On the encrypted client leg, pads `answer` to a multiple of 468 octets when the client's
/// message `msg` carried a Padding option (RFC 8467 §4.1, RFC 7830); in cleartext, never.
fn pad_for(transport: Transport, msg: &[u8], answer: &mut Vec<u8>) {
    if transport == Transport::Tls {
        if let Some(dnssec_ok) = padding::requested(msg) {
            padding::pad(answer, dnssec_ok);
        }
    }
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

/// Everything a [`Forwarder`] is built from.
pub struct Parts {
    /// The upstream pool.
    pub pool: Arc<Pool>,
    /// The answer cache (`None`: off).
    pub cache: Option<Arc<Cache>>,
    /// Who may use the forwarder, and how much.
    pub clients: ClientPolicy,
    /// How queries are rewritten for the upstream (padding, ECS).
    pub privacy: Privacy,
    /// End-to-end budget of one query, from receipt to answer.
    pub timeout: Duration,
    /// One permit per query waiting for an upstream, all transports and generations
    /// together (`--max-pending`).
    pub pending: Arc<Semaphore>,
    /// Where background work (prefetch) runs, so shutdown waits for it.
    pub tasks: TaskTracker,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The DNSSEC validator (`None`: `--dnssec off`).
    pub validator: Option<Arc<Validator>>,
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
    /// One permit per query waiting for an upstream (`--max-pending`).
    pending: Arc<Semaphore>,
    /// Background work (prefetch).
    tasks: TaskTracker,
    metrics: Arc<Metrics>,
    /// The DNSSEC validator (`None`: off).
    validator: Option<Arc<Validator>>,
}

impl Forwarder {
    /// A forwarder built from `parts`.
    pub fn new(parts: Parts) -> Forwarder {
        Forwarder {
            pool: parts.pool,
            cache: parts.cache,
            acl: parts.clients.acl,
            limiter: parts.clients.limiter,
            log_queries: parts.clients.log_queries,
            zones: parts.clients.zones,
            privacy: parts.privacy,
            timeout: parts.timeout,
            pending: parts.pending,
            tasks: parts.tasks,
            metrics: parts.metrics,
            validator: parts.validator,
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

    /// Whether `client` may open a connection (TCP or TLS): the allow list, checked at
    /// accept so that strangers hold no connection slot. A refusal is counted.
    pub fn admits(&self, client: IpAddr) -> bool {
        let allowed = self.acl.allows(canonical(client));
        if !allowed {
            self.metrics.acl_refused.inc();
        }
        allowed
    }

    /// The pipeline: what to do with one message `msg` from `client` over `transport`,
    /// which arrived at `received` (a listener reads the clock once per batch of messages
    /// it takes from the socket, not once per message). Every stage and its order is here
    /// (see the module doc); the message and the answer given now are counted here, by
    /// transport.
    pub fn handle(
        self: &Arc<Self>,
        msg: &[u8],
        client: IpAddr,
        transport: Transport,
        received: Instant,
    ) -> Outcome {
        self.metrics.count_query(transport);
        let mut outcome = self.stages(msg, canonical(client), transport, received);
        if let Outcome::Answer(answer) = &mut outcome {
            pad_for(transport, msg, answer);
            answered(&self.metrics, transport, answer, received);
        }
        outcome
    }

    fn stages(
        self: &Arc<Self>,
        msg: &[u8],
        client: IpAddr,
        transport: Transport,
        received: Instant,
    ) -> Outcome {
        // 1. Header sanity: runts and responses are dropped before anything else.
        if let Err(reason) = header::sanity(msg) {
            self.metrics.dropped.inc();
            tracing::trace!(?reason, "message dropped");
            return Outcome::Drop;
        }
        // 2. The allow list: strangers get REFUSED to a message of the plain query shape
        // and nothing otherwise; their message is never validated in full.
        if !self.acl.allows(client) {
            self.metrics.acl_refused.inc();
            return match Glance::of(msg) {
                Some(g) => {
                    let mut answer = g.answer(Rcode::Refused);
                    ede::attach(&mut answer, Cause::Prohibited, g.client_do());
                    Outcome::Answer(answer)
                }
                None => Outcome::Drop,
            };
        }
        // 3. The rate limiter, per client prefix.
        if let Some(limiter) = &self.limiter {
            let verdict = limiter.check(client, transport == Transport::Udp);
            if verdict != Verdict::Allow {
                self.metrics.rate_limited.inc();
                let glance = Glance::of(msg);
                let mut answer = match (verdict, glance) {
                    (Verdict::Slip, Some(g)) if transport == Transport::Udp => g.truncated(),
                    (_, Some(g)) if transport.is_stream() => g.answer(Rcode::Refused),
                    _ => return Outcome::Drop,
                };
                ede::attach(
                    &mut answer,
                    Cause::RateLimited,
                    glance.and_then(|g| g.client_do()),
                );
                return Outcome::Answer(answer);
            }
        }
        // 4. Full validation: from here on the query is a ValidQuery.
        self.metrics.validated.inc();
        let query = match validate(msg) {
            Ok(q) => q,
            Err(Rejection::Drop(_)) => {
                self.metrics.dropped.inc();
                return Outcome::Drop;
            }
            Err(Rejection::Reply {
                rcode,
                reason,
                mut answer,
            }) => {
                self.metrics.rejected.inc();
                tracing::trace!(?rcode, reason, "query rejected");
                let cause = match rcode {
                    Rcode::NotImp | Rcode::Refused => Cause::NotSupported(reason),
                    _ => Cause::Malformed(reason),
                };
                // The answer carries OPT exactly when the query's EDNS could be read.
                let client_do = opt::dnssec_ok(&answer);
                ede::attach(&mut answer, cause, client_do);
                return Outcome::Answer(answer);
            }
        };
        if self.log_queries {
            tracing::info!(
                %client,
                name = %crate::dns::name_to_text(query.qname()),
                qtype = query.qtype(),
                ?transport,
                "query"
            );
        }
        // 5. The cache.
        let (key, stale) = match &self.cache {
            None => (None, None),
            Some(cache) => {
                let key = CacheKey::of(&query, self.privacy.keep_ecs);
                // Freshness by the clock now, not by `received`: a message can wait in
                // a TCP connection's buffer (at its in-flight cap) for as long as the
                // queries ahead of it, and a TTL must not be stretched by that wait.
                match cache.lookup(&key, &query, Instant::now()) {
                    Lookup::Fresh(answer, prefetch) => {
                        self.metrics.cache_hits.inc();
                        if prefetch {
                            self.prefetch(cache.clone(), key, query.clone());
                        }
                        return Outcome::Answer(self.for_client(answer, &query, transport));
                    }
                    Lookup::Stale(answer) => {
                        self.metrics.cache_misses.inc();
                        (Some(key), Some(answer))
                    }
                    Lookup::Miss => {
                        self.metrics.cache_misses.inc();
                        (Some(key), None)
                    }
                }
            }
        };
        // 6. Admission under the pending cap: beyond it, SERVFAIL now, queue nothing.
        let Ok(permit) = self.pending.clone().try_acquire_owned() else {
            self.metrics.pending_limit_hits.inc();
            let mut answer = query.error_answer(Rcode::ServFail);
            ede::attach(&mut answer, Cause::Busy, query.edns().map(|e| e.dnssec_ok));
            return Outcome::Answer(answer);
        };
        // 7. The upstream (or a local zone's server), in Forwarding::answer.
        Outcome::Forward(Forwarding {
            forwarder: self.clone(),
            query,
            transport,
            key,
            stale,
            _pending: permit,
            received,
        })
    }

    /// The last stage: `reply` as the client gets it over `transport`: a TC=1 answer if
    /// it is too large for the client's UDP.
    fn for_client(&self, reply: Vec<u8>, query: &ValidQuery, transport: Transport) -> Vec<u8> {
        if transport == Transport::Udp && reply.len() > query.udp_limit() {
            self.metrics.truncated.inc();
            let flags = u16::from_be_bytes([reply[2], reply[3]]);
            return truncated_answer(flags, query);
        }
        reply
    }

    /// One upstream query by `deadline`: the answer as this client should see it (judged
    /// by the validator when it is on), or why there is none.
    async fn fetch(
        self: &Arc<Self>,
        query: &ValidQuery,
        deadline: Instant,
    ) -> Result<Vec<u8>, Cause> {
        if let Some(zone) = self.zones.iter().find(|z| in_zone(query.qname(), &z.wire)) {
            // A local zone the policy sends to a local server in plain DNS.
            let (mut reply, info) = plain::exchange(&zone.servers, query, deadline)
                .await
                .ok_or(Cause::LocalZoneFailed)?;
            restore_client_view(&mut reply, &info, query);
            self.metrics.answered.inc();
            return Ok(reply);
        }
        let wire = upstream_query(query, &self.privacy);
        match self.pool.resolve(query, &wire, deadline).await {
            Ok((mut reply, info)) => {
                restore_client_view(&mut reply, &info, query);
                answer_for_client(&mut reply, &info, query.edns().is_some());
                // RFC 7871 §7.3: with ECS forwarded, the client sees its own subnet or none,
                // whether or not the answer passes through the cache.
                if self.privacy.keep_ecs && own_subnet_echo(&mut reply, query).is_err() {
                    return Err(Cause::ForeignSubnet);
                }
                if let Some(validator) = &self.validator {
                    reply = self.judge(validator, reply, query, deadline).await?;
                }
                self.metrics.answered.inc();
                Ok(reply)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no upstream answer");
                Err(self.why(e))
            }
        }
    }

    /// Why the pool gave no answer, as the client is told: the class of the upstreams'
    /// latest failure when they are failing (authentication first), else the pool's error.
    fn why(&self, e: PoolError) -> Cause {
        match (self.pool.failure(), e) {
            (Some(UpstreamFailure::Auth(kind)), _) => Cause::UpstreamAuth(kind),
            (Some(UpstreamFailure::Connect), _) => Cause::UpstreamUnreachable,
            (None, PoolError::Unavailable) => Cause::NoUpstream,
            (None, PoolError::Timeout) => Cause::UpstreamTimeout,
        }
    }

    /// The DNSSEC stage: `reply` (to `query`, asked with DO=1 and CD=1) judged unless the
    /// client set CD; bogus or undecided is an error for the client; AD set only for a
    /// secure answer to a client that set DO or AD (RFC 6840 §5.7); the client's CD given
    /// back; the DNSSEC records removed unless the client set DO (RFC 4035 §3.2.1).
    async fn judge(
        self: &Arc<Self>,
        validator: &Validator,
        mut reply: Vec<u8>,
        query: &ValidQuery,
        deadline: Instant,
    ) -> Result<Vec<u8>, Cause> {
        let asked = query.flags();
        let client_do = query.edns().is_some_and(|e| e.dnssec_ok);
        let rcode = reply.get(3).map_or(0, |b| b & 0x0F);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let outcome = if asked & flags::CD != 0 {
            4 // unchecked: the client validates (RFC 4035 §3.2.2)
        } else if rcode != 0 && rcode != 3 {
            1 // an upstream error passed on as it is: nothing to vouch for
        } else {
            let started = Instant::now();
            let fetch = ChainFetch {
                forwarder: self.clone(),
                deadline,
            };
            let verdict = tokio::time::timeout_at(
                deadline,
                validator.validate(&fetch, query.qname(), query.qtype(), &reply, now),
            )
            .await
            .unwrap_or(dnssec::Verdict::Indeterminate);
            self.metrics.dnssec_time.observe(started.elapsed());
            match verdict {
                dnssec::Verdict::Secure => 0,
                dnssec::Verdict::Insecure => 1,
                dnssec::Verdict::Bogus(b) => {
                    self.metrics.dnssec_outcomes[2].inc();
                    tracing::debug!(reason = b.reason(), "DNSSEC bogus answer");
                    return Err(Cause::Bogus {
                        info_code: b.info_code(),
                        reason: b.reason(),
                    });
                }
                dnssec::Verdict::Indeterminate => {
                    self.metrics.dnssec_outcomes[3].inc();
                    return Err(Cause::DnssecIndeterminate);
                }
            }
        };
        self.metrics.dnssec_outcomes[outcome].inc();
        if outcome == 0 {
            // No record outlives the signatures that vouched for it (RFC 4035 §5.3.3),
            // in the cache or at the client.
            if let Some(bound) = dnssec::ttl::signature_bound(&reply, now) {
                dnssec::ttl::cap_ttls(&mut reply, bound);
            }
        }
        let secure = outcome == 0 && (client_do || asked & flags::AD != 0);
        let mut f = u16::from_be_bytes([reply[2], reply[3]]) & !(flags::AD | flags::CD);
        f |= asked & flags::CD;
        if secure {
            f |= flags::AD;
        }
        reply[2..4].copy_from_slice(&f.to_be_bytes());
        if !client_do {
            if let Some(stripped) = strip_dnssec(&reply, query.qtype()) {
                reply = stripped;
            }
        }
        Ok(reply)
    }

    /// A DS or DNSKEY query of the validator, through the cache (coalesced with identical
    /// queries) and the upstreams, by `deadline`: the upstream's whole answer.
    async fn chain_query(
        self: &Arc<Self>,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
    ) -> Option<Vec<u8>> {
        self.metrics.dnssec_chain_queries.inc();
        let query = validate(&chain_question(name, qtype)).ok()?;
        let Some(cache) = &self.cache else {
            return self.fetch(&query, deadline).await.ok();
        };
        let key = CacheKey::of(&query, self.privacy.keep_ecs);
        if let Lookup::Fresh(answer, _) = cache.lookup(&key, &query, Instant::now()) {
            return Some(answer);
        }
        match self.fetch_cached(cache, key, None, &query, deadline).await {
            Ok(Fetched::Fresh(answer) | Fetched::Stale(answer)) => Some(answer),
            Err(_) => None,
        }
    }

    async fn fetch_cached(
        self: &Arc<Self>,
        cache: &Arc<Cache>,
        key: CacheKey,
        stale: Option<Vec<u8>>,
        query: &ValidQuery,
        deadline: Instant,
    ) -> Result<Fetched, Cause> {
        let fetched = match cache.join(&key) {
            Flight::Leader(leader) => match self.fetch(query, deadline).await {
                Ok(msg) => {
                    let answer = cache.insert(key, msg, query, Instant::now());
                    leader.finish(Some(&answer));
                    Ok(answer)
                }
                Err(cause) => {
                    leader.fail(cause);
                    Err(cause)
                }
            },
            Flight::Follower(rx) => {
                self.metrics.cache_coalesced.inc();
                self.follow(rx, query).await
            }
        };
        match (fetched, stale) {
            (Ok(answer), _) => Ok(Fetched::Fresh(answer)),
            // RFC 8767: every upstream failed; an expired answer is better than none.
            (Err(_), Some(answer)) => {
                self.metrics.cache_stale.inc();
                Ok(Fetched::Stale(answer))
            }
            (Err(cause), None) => Err(cause),
        }
    }

    /// Waits (within the budget) for the query another client started for the same key.
    async fn follow(
        &self,
        rx: oneshot::Receiver<Shared>,
        query: &ValidQuery,
    ) -> Result<Vec<u8>, Cause> {
        let outcome = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => Shared::Failed(None),
        };
        match outcome {
            Shared::Done(msg) => {
                let mut out = msg.to_vec();
                client_view(&mut out, query);
                Ok(out)
            }
            // The leader's query failed: the same upstreams, so the same reason.
            Shared::Failed(Some(cause)) => Err(cause),
            Shared::Failed(None) => Err(self.why(PoolError::Timeout)),
        }
    }

    /// Refreshes a popular entry before it expires, off the client's path.
    fn prefetch(self: &Arc<Self>, cache: Arc<Cache>, key: CacheKey, query: ValidQuery) {
        let Flight::Leader(leader) = cache.join(&key) else {
            return;
        };
        self.metrics.cache_prefetches.inc();
        let this = self.clone();
        self.tasks.spawn(async move {
            let deadline = Instant::now() + this.timeout;
            match this.fetch(&query, deadline).await {
                Ok(msg) => {
                    let answer = cache.insert(key, msg, &query, Instant::now());
                    leader.finish(Some(&answer));
                }
                Err(_) => leader.finish(None),
            }
        });
    }
}

/// The validator's way to DS and DNSKEY records: queries through the forwarder's own cache
/// and upstreams, within the client query's deadline.
struct ChainFetch {
    forwarder: Arc<Forwarder>,
    deadline: Instant,
}

impl Fetch for ChainFetch {
    fn fetch(
        &self,
        name: &[u8],
        qtype: u16,
    ) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send {
        let forwarder = self.forwarder.clone();
        let name = name.to_vec();
        let deadline = self.deadline;
        // Boxed: the chain query runs the pipeline's fetch, which may validate again.
        let future: std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u8>>> + Send>> =
            Box::pin(async move { forwarder.chain_query(&name, qtype, deadline).await });
        future
    }
}

/// The query the validator sends for `name` (wire form) and `qtype`: RD, CD (the
/// validator judges for itself), and an OPT record with DO (RFC 4035 §3.2.1).
fn chain_question(name: &[u8], qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + name.len() + 4 + 11);
    m.extend([0, 0]);
    m.extend((flags::RD | flags::CD).to_be_bytes());
    m.extend([0, 1, 0, 0, 0, 0, 0, 1]);
    m.extend_from_slice(name);
    m.extend(qtype.to_be_bytes());
    m.extend(1u16.to_be_bytes());
    m.extend([0, 0, 41]);
    m.extend(crate::dns::edns::DEFAULT_UDP_PAYLOAD.to_be_bytes());
    m.extend([0, 0, 0x80, 0, 0, 0]);
    m
}
