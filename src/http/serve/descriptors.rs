//! File descriptors: the soft `RLIMIT_NOFILE` is raised to the hard limit at start, and the
//! connection cap is kept below what is left after dbkill's own needs (the store, connections to
//! targets), so a flood of clients can never take the descriptors a kill needs.

/// Descriptors kept for everything but client connections: the store, lifelines and kill
/// connections to targets, certificate reloads.
pub const RESERVED: u64 = 256;

/// Raises the soft limit to the hard one; the limit in force afterwards (`None`: unknown).
pub fn raise_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The connection cap to use: the configured one, lowered (with a warning) when the descriptor
/// limit could not hold it next to the reserve.
pub fn connection_cap(configured: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return configured;
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    if configured <= room {
        return configured;
    }
    let cap = room.max(16);
    tracing::warn!(
        "max_connections {configured} does not fit the open-file limit {limit} \
         ({RESERVED} kept for the store and the targets): serving at most {cap} connections; \
         raise the hard limit (e.g. LimitNOFILE= in the systemd unit) to serve more"
    );
    cap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve() {
        assert_eq!(connection_cap(4_096, Some(20_000)), 4_096);
        assert_eq!(
            connection_cap(4_096, Some(1_024)),
            1_024 - RESERVED as usize
        );
        assert_eq!(connection_cap(4_096, Some(100)), 16);
        assert_eq!(connection_cap(4_096, None), 4_096);
    }

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let limit = raise_limit().unwrap();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!((limit, soft), (soft, hard));
    }
}
