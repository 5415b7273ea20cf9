//! The MySQL family (MySQL 5.7/8.x and MariaDB) over mysql_async.

mod connect;
mod driver;
mod executor;
mod flavor;
mod kill;
mod tls;

pub use connect::{check_login, connect};
pub use driver::MysqlDriver;
pub use flavor::Flavor;
