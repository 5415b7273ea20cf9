//! The connections being served: admission under `max_connections`, eviction of the one that
//! has waited longest when the cap is reached, and the wait for all of them at shutdown.
//!
//! At the cap a new connection is admitted by closing the connection that has been waiting (no
//! request in flight) the longest, never one that is busy. A flood of connections that send
//! nothing therefore churns through the oldest of its own sockets, while a client that sends
//! its request right away is served: it is busy, so not evictable, within a millisecond of
//! connecting. Leaving connections in the kernel's backlog instead would queue every
//! legitimate client behind the flood until the header timeout freed a slot. Only when every
//! admitted connection is busy is the new one closed at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::activity::Activity;

pub struct ConnectionTable {
    cap: usize,
    inner: Mutex<Inner>,
    drained: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    live: HashMap<u64, Arc<Activity>>,
    /// Connections in the order they began waiting, oldest first, with their generation then;
    /// entries whose connection has moved on since are skipped (and compacted away).
    waiting: VecDeque<(u64, u64)>,
}

impl Inner {
    fn is_current(&self, id: u64, generation: u64) -> bool {
        self.live
            .get(&id)
            .is_some_and(|a| a.is_waiting_at(generation))
    }

    fn evict_oldest_waiting(&mut self) -> bool {
        while let Some((id, generation)) = self.waiting.pop_front() {
            if self.is_current(id, generation) {
                self.live[&id].evict();
                return true;
            }
        }
        false
    }
}

/// A connection's place in the table; leaving it (drop) frees the place.
pub struct Slot {
    table: Arc<ConnectionTable>,
    pub activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        inner.live.remove(&self.activity.id);
        if inner.live.is_empty() {
            self.table.drained.notify_waiters();
        }
    }
}

impl ConnectionTable {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            inner: Mutex::new(Inner::default()),
            drained: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The table's invariants hold between statements, so a panic elsewhere cannot break them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection: at the cap, the longest-waiting connection is told to
    /// close; `None` when every connection is busy.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut inner = self.lock();
        if inner.live.len() >= self.cap && !inner.evict_oldest_waiting() {
            return None;
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let activity = Activity::new(id, Arc::downgrade(self));
        inner.live.insert(id, activity.clone());
        inner.waiting.push_back((id, activity.generation()));
        Some(Slot {
            table: self.clone(),
            activity,
        })
    }

    /// Tells the longest-waiting connection to close (descriptors ran out); `false` if none is
    /// waiting.
    pub fn evict_oldest_waiting(&self) -> bool {
        self.lock().evict_oldest_waiting()
    }

    /// Connection `id` finished its requests and now waits, as of `generation`.
    pub(super) fn now_waiting(&self, id: u64, generation: u64) {
        let mut inner = self.lock();
        inner.waiting.push_back((id, generation));
        if inner.waiting.len() > 2 * inner.live.len() + 64 {
            let queue = std::mem::take(&mut inner.waiting);
            inner.waiting = queue
                .into_iter()
                .filter(|&(id, generation)| inner.is_current(id, generation))
                .collect();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Resolves once no connection is left.
    pub async fn drained(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            drained.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let table = ConnectionTable::new(2);
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let busy = second.activity.request_started();
        let third = table.admit().expect("the waiting connection makes room");
        tokio::time::timeout(std::time::Duration::from_secs(1), first.activity.evicted())
            .await
            .expect("the oldest waiting connection is told to close");
        drop(first);
        let _fourth = table.admit().expect("the third is waiting, so evictable");
        drop(third);
        drop(busy);
        assert_eq!(table.len(), 2, "the second and the fourth");
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_new_ones_are_refused() {
        let table = ConnectionTable::new(1);
        let only = table.admit().unwrap();
        let _busy = only.activity.request_started();
        assert!(table.admit().is_none());
        assert!(!table.evict_oldest_waiting());
    }

    #[tokio::test]
    async fn drained_waits_for_the_last_connection() {
        let table = ConnectionTable::new(4);
        let slot = table.admit().unwrap();
        let waiter = tokio::spawn({
            let table = table.clone();
            async move { table.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(slot);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
