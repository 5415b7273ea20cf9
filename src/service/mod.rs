//! Authorisation and resolution shared by every handler: a caller's role on a project, then the
//! project, instance and db user it names. Only an [`Access`] obtained here can reach a target.

mod access;

pub use access::{Access, authorize, resolve_db_user, resolve_instance};
