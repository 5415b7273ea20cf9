//! At most `max_requests_per_client` requests in flight per client address: one address cannot
//! hold every worker with slow requests (a body sent byte by byte, a slow target). One more gets
//! 429 APIGW.0308 with `Retry-After: 1` rather than 503: the service is up, this caller is over
//! its share, and the SDKs retry a 429 after the given delay. It runs before authentication, so
//! it holds for callers with and without credentials alike.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::DasError;

/// Requests in flight per client address; an address leaves the map with its last request.
#[derive(Clone)]
pub struct ClientRequests {
    cap: usize,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One request counted against its address until dropped.
struct Counted {
    requests: ClientRequests,
    ip: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut map = self.requests.lock();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl ClientRequests {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            in_flight: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_count(&self, ip: IpAddr) -> Option<Counted> {
        let mut map = self.lock();
        let n = map.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Counted {
            requests: self.clone(),
            ip,
        })
    }
}

pub async fn limit(State(requests): State<ClientRequests>, req: Request, next: Next) -> Response {
    // Without a client address (a router driven without the serve loop) there is nothing to count.
    let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let Some(counted) = requests.try_count(addr.ip()) else {
        return DasError::RateLimited {
            retry_after_secs: 1,
        }
        .into_response();
    };
    let resp = next.run(req).await;
    drop(counted);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_share_is_refused_until_one_ends() {
        let requests = ClientRequests::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a = requests.try_count(ip).unwrap();
        let _b = requests.try_count(ip).unwrap();
        assert!(requests.try_count(ip).is_none());
        assert!(
            requests.try_count(other).is_some(),
            "another address has its own share"
        );
        drop(a);
        assert!(requests.try_count(ip).is_some());
    }

    #[test]
    fn idle_addresses_leave_the_map() {
        let requests = ClientRequests::new(1);
        drop(requests.try_count("10.0.0.1".parse().unwrap()));
        assert!(requests.lock().is_empty());
    }
}
