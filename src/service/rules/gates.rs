//! One gate per instance: a tick holds it from reading its rules until its KILLs are sent, and
//! terminate / switch-off wait for it after writing, so once they answer no tick can still be
//! sending KILLs for what they stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::domain::InstanceId;

#[derive(Clone, Default)]
pub(super) struct Gates(Arc<Mutex<HashMap<InstanceId, Arc<AsyncMutex<()>>>>>);

impl Gates {
    fn gate(&self, instance: &InstanceId) -> Arc<AsyncMutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(instance.clone()).or_default().clone()
    }

    /// Held by a tick while it reads rules and sends KILLs.
    pub(super) async fn enter(&self, instance: &InstanceId) -> OwnedMutexGuard<()> {
        self.gate(instance).lock_owned().await
    }

    /// Returns once no tick of `instance` that started before the call is sending KILLs.
    pub(super) async fn wait_idle(&self, instance: &InstanceId) {
        drop(self.gate(instance).lock().await);
    }
}
