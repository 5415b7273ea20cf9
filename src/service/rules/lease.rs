//! The lease by which one replica alone runs an instance's rules. Taken before an instance's
//! loop starts, renewed every `lease_renew` before a tick, and given up when a renewal finds
//! another owner, or when renewals have failed for so long that the lease may have lapsed
//! (`lease_ttl` less one renewal, counted from before the last renewal that worked). The store
//! checks the lease's version in the transaction that records a tick's intent, so a replica that
//! lost its lease without knowing it records nothing and sends nothing.

use std::time::{Duration, Instant};

use crate::domain::InstanceId;
use crate::service::Services;
use crate::store::LeaseFence;

/// How long one lease call may take.
const STORE_CALL: Duration = Duration::from_secs(2);

pub(super) struct HeldLease {
    pub(super) fence: LeaseFence,
    /// When the last renewal that worked was asked for.
    renewed: Instant,
}

impl Services {
    /// The lease of `instance` when no other live replica holds it.
    pub(super) async fn take_lease(&self, instance: &InstanceId) -> Option<HeldLease> {
        let asked = Instant::now();
        let settings = &self.rules.settings;
        let take = self
            .store
            .acquire_lease(instance, &self.replica, settings.lease_ttl);
        match tokio::time::timeout(STORE_CALL, take).await {
            Ok(Ok(Some(version))) => Some(HeldLease {
                fence: LeaseFence {
                    instance_id: instance.clone(),
                    replica: self.replica.to_string(),
                    version,
                },
                renewed: asked,
            }),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::debug!(%instance, "kill rules: cannot take the lease: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Renews `lease` when due; false when it is lost, or may have lapsed.
    pub(super) async fn keep_lease(&self, lease: &mut HeldLease) -> bool {
        let settings = &self.rules.settings;
        if lease.renewed.elapsed() < settings.lease_renew {
            return true;
        }
        let asked = Instant::now();
        let renew =
            self.store
                .acquire_lease(&lease.fence.instance_id, &self.replica, settings.lease_ttl);
        match tokio::time::timeout(STORE_CALL, renew).await {
            Ok(Ok(Some(version))) => {
                // Another version: the lease lapsed and was taken again (by this replica).
                lease.fence.version = version;
                lease.renewed = asked;
                true
            }
            Ok(Ok(None)) => {
                tracing::info!(instance = %lease.fence.instance_id, "kill rules: another replica holds the lease now");
                false
            }
            Ok(Err(_)) | Err(_) => {
                let safe = settings.lease_ttl.saturating_sub(settings.lease_renew);
                let holds = lease.renewed.elapsed() < safe;
                if !holds {
                    tracing::warn!(instance = %lease.fence.instance_id, "kill rules: the lease cannot be renewed and may have lapsed; this replica stops running the instance's rules");
                }
                holds
            }
        }
    }

    /// Gives the lease up so another replica may take it at once.
    pub(super) async fn give_up_lease(&self, lease: HeldLease) {
        let release = self
            .store
            .release_lease(&lease.fence.instance_id, &self.replica);
        if let Ok(Err(e)) = tokio::time::timeout(STORE_CALL, release).await {
            tracing::debug!(instance = %lease.fence.instance_id, "kill rules: cannot release the lease: {e}");
        }
    }
}
