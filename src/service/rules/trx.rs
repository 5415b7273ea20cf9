//! Transaction ages for `min_trx_time`: read only for the sessions that meet every other
//! condition of a rule that has one, so a tick over 10,000 idle sessions does not read
//! INNODB_TRX for all of them.

use crate::domain::{RuleConditions, Session};
use crate::engine::{EngineError, SessionDriver};
use crate::error::DasResult;
use crate::planner::rule_matches;

pub(super) async fn add_trx_ages(
    driver: &dyn SessionDriver,
    sessions: &mut [Session],
    rules: &[RuleConditions],
) -> DasResult<()> {
    let without_trx: Vec<RuleConditions> = rules
        .iter()
        .filter(|c| c.min_trx_time.is_some())
        .map(|c| RuleConditions {
            min_trx_time: None,
            ..c.clone()
        })
        .collect();
    let ids: Vec<_> = sessions
        .iter()
        .filter(|s| without_trx.iter().any(|c| rule_matches(s, c)))
        .map(|s| s.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    match driver.trx_ages(&ids).await {
        Ok(ages) => {
            for s in sessions.iter_mut() {
                if let Some(age) = ages.get(&s.id) {
                    s.trx_seconds = *age;
                }
            }
            Ok(())
        }
        // Without PROCESS the ages stay 0: a `min_trx_time` rule then matches nothing.
        Err(EngineError::Denied(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
