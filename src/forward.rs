//! The one path a query takes: **listener -> validate -> upstream pool -> response**.
//!
//! Each stage returns a small outcome, so the order of checks is visible here:
//! [`Forwarder::prepare`] runs the validator (drop / synthesized answer / forward), and
//! [`Forwarder::answer`] sends a valid query through the pool within its end-to-end budget
//! and shapes the reply for the client's transport.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::dns::answer::{restore_client_view, truncated_answer};
use crate::dns::query::{validate, Rejection, ValidQuery};
use crate::dns::Rcode;
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
    /// End-to-end budget of one query, from receipt to answer.
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// A forwarder over `pool` giving each query `timeout`.
    pub fn new(pool: Pool, timeout: Duration, metrics: Arc<Metrics>) -> Forwarder {
        Forwarder {
            pool,
            timeout,
            metrics,
        }
    }

    /// Validates one client message.
    pub fn prepare(&self, msg: &[u8]) -> Prepared {
        match validate(msg) {
            Ok(q) => Prepared::Forward(q),
            Err(Rejection::Drop(reason)) => {
                self.metrics.dropped.inc();
                tracing::trace!(?reason, "message dropped");
                Prepared::Drop
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
        }
    }

    /// Resolves a valid query through the upstreams and returns the client's answer:
    /// the upstream reply with the client's ID and question restored, SERVFAIL if no
    /// upstream answered within the budget, or a TC=1 answer if it is too large for UDP.
    pub async fn answer(&self, query: ValidQuery, transport: Transport) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        let (reply, flags) = match self.pool.resolve(&query, deadline).await {
            Ok((mut reply, info)) => {
                restore_client_view(&mut reply, &info, &query);
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
