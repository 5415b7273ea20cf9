//! What a kill request asks for: the ANDed filters and the kind of KILL.

use super::SessionId;

/// A session is a target when it passes every filter that is given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KillFilter {
    pub process_ids: Option<Vec<SessionId>>,
    pub user: Option<String>,
    pub database: Option<String>,
}

impl KillFilter {
    pub fn is_empty(&self) -> bool {
        self.process_ids.is_none() && self.user.is_none() && self.database.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KillType {
    /// `KILL CONNECTION`: the session ends.
    #[default]
    Connection,
    /// `KILL QUERY`: only the running statement ends; the connection stays usable.
    Query,
}

impl KillType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connection" => Some(Self::Connection),
            "query" => Some(Self::Query),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Query => "query",
        }
    }
}
