//! Queries and answers the unit tests of every part of the cache share.

use std::time::Duration;

use super::settings::CacheSettings;
use crate::dns::builder::QueryBuilder;
use crate::dns::query::{validate, ValidQuery};

pub fn settings() -> CacheSettings {
    CacheSettings {
        max_entries: 1000,
        max_bytes: 1 << 20,
        min_ttl: 0,
        max_ttl: 86400,
        servfail_ttl: 2,
        serve_stale: Some(Duration::from_secs(3600)),
        prefetch: true,
    }
}

/// The dotted text of a wire-form name, for the shared query builder.
fn text(name: &[u8]) -> String {
    crate::dns::name_to_text(name)
}

pub fn query(name: &[u8], id: u16) -> ValidQuery {
    validate(&QueryBuilder::new(&text(name), 1).id(id).build()).unwrap()
}

/// A query for `name` with an OPT carrying the ECS option `ecs` (its data).
pub fn query_with_ecs(name: &[u8], id: u16, ecs: &[u8]) -> ValidQuery {
    let q = QueryBuilder::new(&text(name), 1).id(id).option(8, ecs);
    validate(&q.build()).unwrap()
}

/// `answer(q, 0, ttl, 1)` with an OPT echoing the ECS option `ecs` (its data).
pub fn answer_with_ecs(q: &ValidQuery, ttl: u32, ecs: &[u8]) -> Vec<u8> {
    let mut m = answer(q, 0, ttl, 1);
    m[11] = 1;
    m.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
    m.extend((ecs.len() as u16 + 4).to_be_bytes());
    m.extend([0, 8]);
    m.extend((ecs.len() as u16).to_be_bytes());
    m.extend(ecs);
    m
}

pub fn answer(q: &ValidQuery, rcode: u8, ttl: u32, count: u16) -> Vec<u8> {
    let mut m = q.bytes()[..12].to_vec();
    m[2] |= 0x80;
    m[3] = 0x80 | rcode;
    m[6..8].copy_from_slice(&count.to_be_bytes());
    m.extend(q.question());
    for _ in 0..count {
        m.extend([0xC0, 0x0C, 0, 1, 0, 1]);
        m.extend(ttl.to_be_bytes());
        m.extend([0, 4, 192, 0, 2, 1]);
    }
    m
}

pub fn nxdomain(q: &ValidQuery, soa_ttl: u32, minimum: u32) -> Vec<u8> {
    let mut m = answer(q, 3, 0, 0);
    m[9] = 1; // NSCOUNT
    m.extend([0xC0, 0x0C, 0, 6, 0, 1]);
    m.extend(soa_ttl.to_be_bytes());
    let mut rdata = vec![0, 0]; // mname, rname: root
    rdata.extend([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    rdata.extend(minimum.to_be_bytes());
    m.extend((rdata.len() as u16).to_be_bytes());
    m.extend(rdata);
    m
}

pub fn ttl_of_first_answer(msg: &[u8], q: &ValidQuery) -> u32 {
    let at = 12 + q.question().len() + 6;
    u32::from_be_bytes(msg[at..at + 4].try_into().unwrap())
}
