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

use crate::acl::Acl;
use crate::dns::answer::{restore_client_view, truncated_answer};
use crate::dns::edns::{answer_for_client, upstream_query, Privacy};
use crate::dns::query::flags;
use crate::dns::query::{validate, Rejection, ValidQuery};
use crate::dns::Rcode;
use crate::limiter::{Limiter, Verdict};
use crate::metrics::Metrics;
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

/// Who may use the forwarder, and how much.
pub struct ClientPolicy {
    /// Allowed client prefixes.
    pub acl: Acl,
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
    pool: Pool,
    /// Who may query.
    acl: Acl,
    /// Per-client rate limiter; `None` when rate limiting is off.
    limiter: Option<Arc<Limiter>>,
    /// Log each query (client, name, type): opt-in.
    log_queries: bool,
    /// How queries are rewritten for the upstream (padding, ECS).
    privacy: Privacy,
    /// End-to-end budget of one query, from receipt to answer.
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// A forwarder over `pool` giving each query `timeout`.
    pub fn new(
        pool: Pool,
        policy: ClientPolicy,
        privacy: Privacy,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Forwarder {
        Forwarder {
            pool,
            acl: policy.acl,
            limiter: policy.limiter,
            log_queries: policy.log_queries,
            privacy,
            timeout,
            metrics,
        }
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

    /// Resolves a valid query through the upstreams and returns the client's answer:
    /// the upstream reply with the client's ID and question restored, SERVFAIL if no
    /// upstream answered within the budget, or a TC=1 answer if it is too large for UDP.
    pub async fn answer(&self, query: ValidQuery, transport: Transport) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        let wire = upstream_query(&query, &self.privacy);
        let (reply, flags) = match self.pool.resolve(&query, &wire, deadline).await {
            Ok((mut reply, info)) => {
                restore_client_view(&mut reply, &info, &query);
                answer_for_client(&mut reply, &info, query.edns().is_some());
                self.metrics.answered.inc();
                (reply, info.flags)
            }
            Err(e) => {
                tracing::debug!(error = %e, "answering SERVFAIL");
                self.metrics.servfail.inc();
                return query.error_answer(Rcode::ServFail);
            }
        };
        if transport == Transport::Udp && reply.len() > query.udp_limit() {
            self.metrics.truncated.inc();
            return truncated_answer(flags, &query);
        }
        reply
    }
}
