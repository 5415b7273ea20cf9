//! CancelInstanceProcess (`kill-process`): kills the listed sessions whose id and user both
//! match, as the instance's default db user. It is KillSession, once per distinct user, with
//! that user's ids and `user` set: the ANDed filters kill exactly the pairs that match, with
//! KillSession's protections, intent, verification and history.

use std::collections::{BTreeMap, BTreeSet};

use super::{InstanceAccess, KillRequest, Services};
use crate::domain::{DbUserDatastore, KillFilter, KillType, Role, SessionId};
use crate::error::{DasError, DasResult};

/// One `{"id", "user"}` of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessPair {
    pub id: SessionId,
    pub user: String,
}

/// Who asks, for the reports and the history.
pub struct KillProcessOrigin {
    pub request_id: String,
    /// `api:<user>` and friends.
    pub source: String,
}

impl Services {
    /// CancelInstanceProcess (operator): how many sessions were killed. `engine` must fit the
    /// instance (`mysql` fits MySQL and MariaDB), else DAS.200107.
    #[tracing::instrument(skip_all, fields(request_id = %origin.request_id, instance = %access.instance().id))]
    pub async fn kill_process_pairs(
        &self,
        access: &InstanceAccess,
        engine: DbUserDatastore,
        pairs: &[ProcessPair],
        origin: KillProcessOrigin,
    ) -> DasResult<usize> {
        access.project().require(Role::Operator)?;
        if !engine.fits(access.instance().datastore_type) {
            return Err(DasError::UnsupportedEngineType);
        }
        let db_user = self.rule_db_user(access, None).await?;
        let mut by_user: BTreeMap<&str, BTreeSet<SessionId>> = BTreeMap::new();
        for p in pairs {
            by_user.entry(&p.user).or_default().insert(p.id);
        }
        let mut killed = 0;
        for (user, ids) in by_user {
            let ids: Vec<SessionId> = ids.into_iter().collect();
            let filter_json = serde_json::json!({"kill_process": {
                "user": user,
                "process_ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }})
            .to_string();
            let req = KillRequest {
                history_id: uuid::Uuid::new_v4().to_string(),
                request_id: origin.request_id.clone(),
                filter: KillFilter {
                    process_ids: Some(ids),
                    user: Some(user.to_owned()),
                    database: None,
                },
                kill_type: KillType::Connection,
                dry_run: false,
                deadline: None,
                source: origin.source.clone(),
                task_id: 0,
                filter_json,
            };
            killed += self.kill_sessions(db_user.clone(), req).await?.killed.len();
        }
        Ok(killed)
    }
}
