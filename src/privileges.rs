//! Giving up privileges once every socket is bound: the switch to `--user` when started as
//! root, and the capability sets of a non-root process started with NET_BIND_SERVICE.
//!
//! Both act on the calling thread only (`setuid` through glibc acts on every thread, but
//! capability sets are per thread), so the binary calls them while it is still one thread:
//! after binding, before the runtime starts its workers.

/// When running as root and a user is configured, switch to it (group first, and drop
/// supplementary groups) now that the privileged ports are bound.
pub fn drop_privileges(user: Option<(u32, Option<u32>)>) -> Result<(), String> {
    use nix::unistd::{getuid, setgid, setgroups, setuid, Gid, Uid};
    let Some((uid, gid)) = user else {
        return Ok(());
    };
    if !getuid().is_root() {
        if getuid().as_raw() != uid {
            tracing::warn!(
                uid,
                "--user given but not running as root; staying as we are"
            );
        }
        return Ok(());
    }
    let gid = Gid::from_raw(gid.unwrap_or(uid));
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid {gid}: {e}"))?;
    setuid(Uid::from_raw(uid)).map_err(|e| format!("setuid {uid}: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err("privileges could be regained after dropping them".to_owned());
    }
    tracing::info!(uid, gid = gid.as_raw(), "dropped root privileges");
    Ok(())
}

/// Makes CAP_NET_BIND_SERVICE effective if it is permitted but not effective (the image
/// gives the binary that capability as permitted only, so an exec never fails for lack
/// of it; it is raised here, for the binds only). Best effort: without it, a bind to a
/// port below 1024 fails with a clear error.
#[cfg(target_os = "linux")]
pub fn raise_bind_capability() {
    use caps::{CapSet, Capability};
    let cap = Capability::CAP_NET_BIND_SERVICE;
    if caps::has_cap(None, CapSet::Permitted, cap).unwrap_or(false)
        && !caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false)
    {
        if let Err(e) = caps::raise(None, CapSet::Effective, cap) {
            tracing::debug!(error = %e, "could not raise CAP_NET_BIND_SERVICE");
        }
    }
}

/// Once every socket is bound, a process that is not root keeps no capability at all:
/// effective, permitted, inheritable and ambient sets are emptied (for good: an empty
/// permitted set cannot be refilled). Root is left alone: it is either switching to
/// `--user` (which empties them) or was deliberately run as root.
#[cfg(target_os = "linux")]
pub fn drop_capabilities() -> Result<(), String> {
    use caps::CapSet;
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let held =
        caps::read(None, CapSet::Permitted).map_err(|e| format!("reading capabilities: {e}"))?;
    if held.is_empty() {
        return Ok(());
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("dropping capabilities: {e}"))?;
    }
    let names: Vec<String> = held.iter().map(|c| c.to_string()).collect();
    tracing::info!(dropped = %names.join(","), "dropped capabilities after binding");
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn raise_bind_capability() {}

#[cfg(not(target_os = "linux"))]
pub fn drop_capabilities() -> Result<(), String> {
    Ok(())
}
