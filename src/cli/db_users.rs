//! `dbkill db-users add|list|rm`: the accounts dbkill uses to reach an instance. The server checks
//! a new password by logging in before it keeps it; the CLI never echoes or stores it.

use clap::Subcommand;

use super::context::Ctx;
use super::error::CliResult;
use super::table::{Align, Table};

#[derive(Subcommand, Debug)]
pub enum DbUsersCommand {
    /// Register a db user (or replace the password of one already registered).
    Add {
        /// Instance id or name.
        #[arg(long, value_name = "ID_OR_NAME")]
        instance: String,
        /// The account on the database.
        #[arg(long)]
        username: String,
        /// Read the password from one line of standard input (else it is asked for on the terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an instance's db users.
    List {
        /// Instance id or name.
        #[arg(long, value_name = "ID_OR_NAME")]
        instance: String,
    },
    /// Remove a db user's stored credentials.
    Rm {
        /// Instance id or name.
        #[arg(long, value_name = "ID_OR_NAME")]
        instance: String,
        /// DB user id or user name.
        #[arg(value_name = "ID_OR_USERNAME")]
        db_user: String,
    },
}

/// The `datastore_type` DAS expects for a db user of an instance of this type.
fn db_user_datastore(instance_type: &str) -> &'static str {
    if instance_type.eq_ignore_ascii_case("postgresql") {
        "postgresql"
    } else {
        "MySQL"
    }
}

pub async fn run(cmd: &DbUsersCommand, ctx: &Ctx) -> CliResult<i32> {
    let lang = ctx.lang;
    match cmd {
        DbUsersCommand::Add {
            instance,
            username,
            password_stdin,
        } => {
            let i = ctx.instance(instance).await?;
            let password = super::prompt::password(*password_stdin, username, lang)?;
            let id = ctx
                .client
                .register_db_user(
                    &ctx.project,
                    &i.instance_id,
                    username,
                    &password,
                    db_user_datastore(&i.datastore_type),
                )
                .await?;
            println!("{}", lang.db_user_added(username, &id));
        }
        DbUsersCommand::List { instance } => {
            let i = ctx.instance(instance).await?;
            let all = ctx
                .client
                .list_db_users(&ctx.project, &i.instance_id)
                .await?;
            let mut t = Table::new(&[("DB USER ID", Align::Left), ("USERNAME", Align::Left)]);
            for u in &all {
                t.row(vec![u.db_user_id.clone(), u.db_username.clone()]);
            }
            print!("{}", t.render());
            println!("{}", lang.count(all.len(), "db user", "数据库用户"));
        }
        DbUsersCommand::Rm { instance, db_user } => {
            let i = ctx.instance(instance).await?;
            let u = ctx.db_user(&i, Some(db_user)).await?;
            ctx.client
                .delete_db_user(&ctx.project, &i.instance_id, &u.db_user_id)
                .await?;
            println!("{}", lang.db_user_removed(&u.db_username, &u.db_user_id));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_family_instances_register_mysql_db_users() {
        assert_eq!(db_user_datastore("mariadb"), "MySQL");
        assert_eq!(db_user_datastore("mysql"), "MySQL");
        assert_eq!(db_user_datastore("postgresql"), "postgresql");
    }
}
