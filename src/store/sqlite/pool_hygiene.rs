//! What a connection must be to go back into the pool. sqlx counts a connection's open
//! transactions itself. When SQLite rolls a transaction back on its own — it does for
//! SQLITE_FULL, SQLITE_IOERR and SQLITE_NOMEM in a statement without a statement journal, such
//! as a single-row insert on a full disk — sqlx's own ROLLBACK then fails ("no transaction is
//! active") and its count stays at one. That connection would begin every later transaction
//! as a savepoint and refuse `BEGIN IMMEDIATE` outright, so after the disk had room again a
//! kill drawn onto it failed with an internal error. Such a connection is closed instead (the
//! pool opens a fresh one when needed).

use std::future::Future;
use std::pin::Pin;

use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection, SqliteConnection};

type Verdict<'c> = Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>>;

/// `after_release`: keep the connection only when it is outside any transaction.
pub(super) fn keep_only_outside_a_transaction(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> Verdict<'_> {
    Box::pin(async move {
        // A dropped transaction only queues its ROLLBACK; the ping runs after it, so the count
        // read next is the one the ROLLBACK left.
        conn.ping().await?;
        Ok(!conn.is_in_transaction())
    })
}

#[cfg(test)]
mod tests {
    use sqlx::{Acquire, AssertSqlSafe, Connection, SqlitePool};

    use super::super::SqliteStore;

    /// Every connection the pool can hold at once, each asked to begin an IMMEDIATE
    /// transaction (what a kill's intent begins with).
    async fn every_connection_begins_immediate(pool: &SqlitePool) -> Vec<Result<(), String>> {
        let mut held = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            held.push(pool.acquire().await.unwrap());
        }
        let mut outcomes = Vec::new();
        for conn in &mut held {
            let outcome = match conn.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => tx.rollback().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_itself_does_not_poison_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let pool = &store.pool;
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(pool)
            .await
            .unwrap();

        {
            let mut conn = pool.acquire().await.unwrap();
            // The file may not grow on this connection: a full disk, as SQLite sees one.
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            sqlx::query(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut tx = conn.begin().await.unwrap();
            let full = sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(1048576))")
                .execute(&mut *tx)
                .await
                .unwrap_err();
            assert!(full.to_string().contains("full"), "{full}");
            // Dropped: sqlx's ROLLBACK finds SQLite already rolled back.
        }

        let outcomes = every_connection_begins_immediate(pool).await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM filler")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }
}
