//! Several replicas on one PostgreSQL store (issue #15), started as users start them, with
//! `scripts/replicas` (`harness`): what one writes all see (`coherence`), a rule kills every
//! victim once (`exactly_once`) and moves when its owner dies (`failover`), and manual kills
//! through every replica at once (`concurrent_kills`). The store is a fresh database of the
//! shared throwaway PostgreSQL cluster; the target is the shared throwaway mariadbd, each test
//! narrowed to accounts of its own.

mod coherence;
mod concurrent_kills;
mod exactly_once;
mod failover;
mod harness;
mod node;
mod target;
