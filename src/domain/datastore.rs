//! Engine kinds of instances, and the `datastore_type` a db-user registration names.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatastoreType {
    Mysql,
    Mariadb,
    Postgresql,
}

impl DatastoreType {
    /// Instance registration: one of the three names, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mysql" => Some(Self::Mysql),
            "mariadb" => Some(Self::Mariadb),
            "postgresql" => Some(Self::Postgresql),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
            Self::Postgresql => "postgresql",
        }
    }

    pub fn is_mysql_family(self) -> bool {
        matches!(self, Self::Mysql | Self::Mariadb)
    }

    /// The suffix DAS puts on instance ids of this engine.
    pub fn instance_id_suffix(self) -> &'static str {
        if self.is_mysql_family() {
            "in01"
        } else {
            "in03"
        }
    }
}

/// What `datastore_type` in a db-user registration says. DAS documents `MySQL`, which must fit
/// MariaDB instances too, since DAS treats MariaDB as MySQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbUserDatastore(DatastoreType);

impl DbUserDatastore {
    pub fn parse(s: &str) -> Option<Self> {
        DatastoreType::parse(s).map(Self)
    }

    pub fn fits(self, instance: DatastoreType) -> bool {
        match self.0 {
            DatastoreType::Mysql => instance.is_mysql_family(),
            other => other == instance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_fits_the_whole_family() {
        let mysql = DbUserDatastore::parse("MySQL").unwrap();
        assert!(mysql.fits(DatastoreType::Mysql));
        assert!(mysql.fits(DatastoreType::Mariadb));
        assert!(!mysql.fits(DatastoreType::Postgresql));
        let maria = DbUserDatastore::parse("mariadb").unwrap();
        assert!(!maria.fits(DatastoreType::Mysql));
        assert!(DbUserDatastore::parse("oracle").is_none());
        assert!(DbUserDatastore::parse("").is_none());
    }
}
