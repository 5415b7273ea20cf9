//! The history's dbkill extensions: each row carries the `request_id` of its kill's report and
//! whether a reconciliation settled it (`interrupted`); `request_id` finds one kill's rows.

use reqwest::Method;
use serde_json::json;

use crate::helpers::errors::assert_das_error_says;
use crate::helpers::fixtures::{KillSetup, idle, ids_of, new_victim};

#[tokio::test]
async fn history_rows_carry_their_reports_request_id_and_are_found_by_it() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let victim = new_victim(db, "ext");
    let (_first, first_id) = idle(db, &victim, None).await;
    // Without an X-Request-Id the service makes one; the report carries it.
    let first = ctx.kill(&app, json!({"user": victim})).await;
    let first_request = first["request_id"].as_str().unwrap().to_owned();
    assert!(!first_request.is_empty(), "{first}");
    assert_eq!(ids_of(&first["killed"]), [first_id]);

    let (_second, second_id) = idle(db, &victim, None).await;
    let second_request = "caller-chosen-id-42";
    let body = json!({"db_user_id": ctx.db_user_id, "user": victim});
    let second = app
        .raw_request(
            Method::DELETE,
            &ctx.process_path(),
            Some(&app.admin_token),
            &[("X-Request-Id", second_request)],
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(second.status.as_u16(), 200, "{}", second.text);
    assert_eq!(second.body["request_id"], second_request);

    let all = ctx.history(&app, "").await;
    assert_eq!(all["total_count"], 2, "{all}");
    for row in all["killed_sessions"].as_array().unwrap() {
        assert_eq!(row["interrupted"], json!(false), "a normal kill: {row}");
        let expected = if row["session_id"] == first_id {
            first_request.as_str()
        } else {
            second_request
        };
        assert_eq!(row["request_id"], expected, "{row}");
    }

    let only = ctx
        .history(&app, &format!("request_id={first_request}"))
        .await;
    assert_eq!(only["total_count"], 1, "{only}");
    assert_eq!(only["killed_sessions"][0]["session_id"], first_id);
    let only = ctx
        .history(&app, &format!("request_id={second_request}"))
        .await;
    assert_eq!(
        only["killed_sessions"][0]["session_id"], second_id,
        "{only}"
    );
    // Empty is no filter; an unknown id finds nothing; 128 characters is the most.
    assert_eq!(ctx.history(&app, "request_id=").await, all);
    let none = ctx
        .history(&app, &format!("request_id={}", "x".repeat(128)))
        .await;
    assert_eq!(none["total_count"], 0, "{none}");
    let too_long = app
        .admin_call(
            Method::GET,
            &format!("{}?request_id={}", ctx.history_path(), "x".repeat(129)),
            None,
        )
        .await;
    assert_das_error_says(&too_long, 400, "DAS.200100", "request_id");
}
