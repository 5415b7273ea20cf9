//! Rate limits per caller (429 APIGW.0308 with `Retry-After`). A request with valid credentials
//! spends its user's budget, whichever of the user's tokens or access keys it uses; every other
//! request (no credentials, or credentials refused) spends its client address's, so neither a
//! made-up token nor a fresh login buys a fresh budget. IPv6 clients count per /64, the block one
//! host is usually given. Both tables are bounded ([`KeyedLimiter`]).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Extensions;
use axum::http::request::Parts;

use super::limiter::{KeyedLimiter, Refusal};
use super::login_throttle::whole_seconds;
use super::metrics::{LimitKind, limit_hit};
use crate::config::RateLimit;
use crate::domain::UserId;
use crate::error::{DasError, DasResult};

/// Client addresses tracked at most (a few MB); beyond, new addresses are refused while every
/// tracked one is still in debt.
const ADDRESS_CAPACITY: usize = 65_536;
/// Users tracked at most; only users with valid credentials get here.
const USER_CAPACITY: usize = 65_536;

/// Where a request comes from, as rate limits and login delays count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl From<IpAddr> for ClientAddress {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
            v4 => Self(v4),
        }
    }
}

impl ClientAddress {
    /// The peer address the server recorded for the connection (unspecified when it recorded
    /// none, which only an embedding without connect info does).
    pub fn of(extensions: &Extensions) -> Self {
        match extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => Self::from(addr.ip()),
            None => Self::from(IpAddr::from([0, 0, 0, 0])),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.extensions))
    }
}

/// The budgets of client addresses and of users.
#[derive(Clone)]
pub struct RateLimits {
    epoch: Instant,
    addresses: Arc<KeyedLimiter<ClientAddress>>,
    users: Arc<KeyedLimiter<UserId>>,
}

fn refused(refusal: Refusal, kind: LimitKind, full: LimitKind) -> DasError {
    let retry_after_secs = match refusal {
        Refusal::Wait(wait) => {
            limit_hit(kind);
            whole_seconds(wait)
        }
        Refusal::TableFull => {
            limit_hit(full);
            1
        }
    };
    DasError::RateLimited { retry_after_secs }
}

impl RateLimits {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            epoch: Instant::now(),
            addresses: Arc::new(KeyedLimiter::new(
                limit.per_second,
                limit.burst,
                ADDRESS_CAPACITY,
            )),
            users: Arc::new(KeyedLimiter::new(
                limit.per_second,
                limit.burst,
                USER_CAPACITY,
            )),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Spends one request of a caller without valid credentials.
    pub fn charge_address(&self, address: &ClientAddress) -> DasResult<()> {
        self.addresses
            .check(address, self.now())
            .map_err(|r| refused(r, LimitKind::Address, LimitKind::AddressTableFull))
    }

    /// Spends one request of an authenticated user.
    pub fn charge_user(&self, user: &UserId) -> DasResult<()> {
        self.users
            .check(user, self.now())
            .map_err(|r| refused(r, LimitKind::User, LimitKind::UserTableFull))
    }

    /// Whether `user` has budget left, spending none: a signed request asks before its body is
    /// read, and spends once its signature is verified.
    pub fn peek_user(&self, user: &UserId) -> DasResult<()> {
        self.users
            .peek(user, self.now())
            .map_err(|r| refused(r, LimitKind::User, LimitKind::UserTableFull))
    }
}

/// The answer to a request whose credentials were missing or refused (`error`): counted against
/// its client address, and the 429 instead once the address is over its rate. A server-side
/// failure is not the client's and costs it nothing.
pub fn count_refusal(
    limits: Option<&RateLimits>,
    address: &ClientAddress,
    error: DasError,
) -> DasError {
    if matches!(error, DasError::Internal(_)) {
        return error;
    }
    match limits.map(|l| l.charge_address(address)) {
        Some(Err(limited)) => limited,
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientAddress::from(a), ClientAddress::from(b));
        assert_ne!(ClientAddress::from(a), ClientAddress::from(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ClientAddress::from(mapped), ClientAddress::from(v4));
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_ne!(ClientAddress::from(other), ClientAddress::from(v4));
    }
}
