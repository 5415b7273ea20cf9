//! The MySQL family (MySQL 5.7/8.x and MariaDB) over mysql_async.

mod connect;

pub use connect::{check_login, connect};
