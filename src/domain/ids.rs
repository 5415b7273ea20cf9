//! Identifier newtypes. Parsing follows the API contract: path ids are 1..64 ASCII letters/digits
//! (UUIDs in their 8-4-4-4-12 form); freshly minted ids have the exact DAS shapes.

use std::fmt;

fn is_path_token(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A project: 32 lowercase hex when minted; any 1..64 letters/digits is accepted as syntax.
    ProjectId
);
string_id!(
    /// An instance: 32 lowercase hex + `in01` (MySQL family) or `in03` (PostgreSQL) when minted.
    InstanceId
);
string_id!(
    /// A user of dbkill itself: 32 lowercase hex.
    UserId
);
string_id!(
    /// A registered db user: a lowercase UUID.
    DbUserId
);

impl ProjectId {
    pub fn new_random() -> Self {
        Self(random_hex32())
    }
    pub fn parse(s: &str) -> Option<Self> {
        is_path_token(s).then(|| Self(s.to_owned()))
    }
}

impl InstanceId {
    pub fn new_random(suffix: &str) -> Self {
        Self(format!("{}{suffix}", random_hex32()))
    }
    pub fn parse(s: &str) -> Option<Self> {
        is_path_token(s).then(|| Self(s.to_owned()))
    }
}

impl UserId {
    pub fn new_random() -> Self {
        Self(random_hex32())
    }
    /// User ids are minted by us, so only their exact shape is accepted.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }
}

impl DbUserId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().hyphenated().to_string())
    }
    /// Accepts the 8-4-4-4-12 form only (any case; stored lowercase).
    pub fn parse(s: &str) -> Option<Self> {
        let groups: Vec<&str> = s.split('-').collect();
        let shape_ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        shape_ok.then(|| Self(s.to_ascii_lowercase()))
    }
}

/// A session (thread / connection) id as the server reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl SessionId {
    /// A non-negative decimal integer, nothing else: no sign, no spaces, no hex, no empty string.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(SessionId)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_das_shapes() {
        let p = ProjectId::new_random();
        assert_eq!(p.as_str().len(), 32);
        assert!(ProjectId::parse(p.as_str()).is_some());
        let i = InstanceId::new_random("in01");
        assert_eq!(i.as_str().len(), 36);
        assert!(i.as_str().ends_with("in01"));
        let d = DbUserId::new_random();
        assert_eq!(DbUserId::parse(d.as_str()), Some(d));
        let u = UserId::new_random();
        assert_eq!(UserId::parse(u.as_str()), Some(u));
    }

    #[test]
    fn path_tokens_reject_bad_syntax() {
        for bad in ["", "a-b", "a b", "ü", &"a".repeat(65), "../x", "1;DROP"] {
            assert!(ProjectId::parse(bad).is_none(), "{bad:?}");
            assert!(InstanceId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(ProjectId::parse(&"a".repeat(64)).is_some());
    }

    #[test]
    fn db_user_ids_are_uuids() {
        assert!(DbUserId::parse("2c250598-1e3c-4d31-bc19-be1d866247e6").is_some());
        assert_eq!(
            DbUserId::parse("2C250598-1E3C-4D31-BC19-BE1D866247E6")
                .unwrap()
                .as_str(),
            "2c250598-1e3c-4d31-bc19-be1d866247e6"
        );
        for bad in [
            "",
            "2c250598",
            "2c2505981e3c4d31bc19be1d866247e6",
            "2c250598-1e3c-4d31-bc19-be1d866247eg",
        ] {
            assert!(DbUserId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn session_ids_are_plain_decimals() {
        assert_eq!(SessionId::parse("0"), Some(SessionId(0)));
        assert_eq!(SessionId::parse("11212"), Some(SessionId(11212)));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "0x10",
            "1.0",
            "1e3",
            "99999999999999999999999",
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_are_exact_hex() {
        assert!(UserId::parse(&"a".repeat(32)).is_some());
        assert!(UserId::parse(&"A".repeat(32)).is_none());
        assert!(UserId::parse(&"a".repeat(31)).is_none());
    }
}
