//! `dbkill instances add|list|rm`: the project's registry of target databases.

use clap::Subcommand;

use super::api::NewInstance;
use super::context::Ctx;
use super::error::{CliError, CliResult};
use super::table::{Align, Table};

#[derive(Subcommand, Debug)]
pub enum InstancesCommand {
    /// Register an instance (stored without connecting; a db user added next checks it).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long = "type", value_name = "TYPE", ignore_case = true,
              value_parser = ["mariadb", "mysql", "postgresql"])]
        datastore_type: String,
        #[arg(long)]
        host: String,
        #[arg(long)]
        port: u16,
        /// An account whose sessions are never killed (repeatable).
        #[arg(long = "protected-user", value_name = "USER")]
        protected_users: Vec<String>,
        /// MySQL admin_port / MariaDB extra_port, used for kills when the server is full.
        #[arg(long)]
        admin_port: Option<u16>,
        /// How dbkill secures its connections to the instance [default: preferred].
        #[arg(long, ignore_case = true,
              value_parser = ["disabled", "preferred", "required", "verify_ca", "verify_identity"])]
        tls_mode: Option<String>,
        /// A PEM file of the CA that verify_ca / verify_identity trust (else the system's roots).
        #[arg(long, value_name = "PEM_FILE")]
        tls_ca: Option<std::path::PathBuf>,
    },
    /// List the project's instances.
    List,
    /// Remove an instance and its db users' stored credentials (its kill history stays).
    Rm {
        /// Instance id or name.
        #[arg(value_name = "ID_OR_NAME")]
        instance: String,
    },
}

pub async fn run(cmd: &InstancesCommand, ctx: &Ctx) -> CliResult<i32> {
    let lang = ctx.lang;
    match cmd {
        InstancesCommand::Add {
            name,
            datastore_type,
            host,
            port,
            protected_users,
            admin_port,
            tls_mode,
            tls_ca,
        } => {
            let tls_ca =
                match tls_ca {
                    Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                        CliError::Usage(format!("--tls-ca {}: {e}", path.display()))
                    })?),
                    None => None,
                };
            let new = NewInstance {
                name: name.clone(),
                datastore_type: datastore_type.to_ascii_lowercase(),
                host: host.clone(),
                port: *port,
                protected_users: protected_users.clone(),
                admin_port: *admin_port,
                tls_mode: tls_mode.as_ref().map(|m| m.to_ascii_lowercase()),
                tls_ca,
            };
            let id = ctx.client.create_instance(&ctx.project, &new).await?;
            println!("{}", lang.instance_added(name, &id));
        }
        InstancesCommand::List => {
            let all = ctx.client.list_instances(&ctx.project).await?;
            let mut t = Table::new(&[
                ("INSTANCE ID", Align::Left),
                ("NAME", Align::Left),
                ("TYPE", Align::Left),
                ("HOST", Align::Left),
                ("PORT", Align::Right),
                ("ADMIN PORT", Align::Right),
                ("TLS", Align::Left),
                ("PROTECTED USERS", Align::Left),
            ]);
            for i in &all {
                t.row(vec![
                    i.instance_id.clone(),
                    i.name.clone(),
                    i.datastore_type.clone(),
                    i.host.clone(),
                    i.port.to_string(),
                    i.admin_port.map(|p| p.to_string()).unwrap_or_default(),
                    i.tls_mode.clone().unwrap_or_default(),
                    i.protected_users.join(","),
                ]);
            }
            print!("{}", t.render());
            println!("{}", lang.count(all.len(), "instance", "实例"));
        }
        InstancesCommand::Rm { instance } => {
            let i = ctx.instance(instance).await?;
            ctx.client
                .delete_instance(&ctx.project, &i.instance_id)
                .await?;
            println!("{}", lang.instance_removed(&i.name, &i.instance_id));
        }
    }
    Ok(0)
}
