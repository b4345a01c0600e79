//! The documented call order, driven the way an engine worker would: a `TxTable` of
//! `Transaction`s, one `Timers` queue, and the poll sequence after every input.

use std::time::{Duration, Instant};

use crate::{
    InsertError, Reliability, ServerInviteTx, TimerConfig, Timers, Transaction, TxEvent, TxHandle,
    TxKeyRef, TxTable,
};

struct Worker {
    table: TxTable<Transaction>,
    timers: Timers,
    sent: Vec<Vec<u8>>,
    events: Vec<(TxHandle, TxEvent)>,
}

impl Worker {
    fn new(cap: usize) -> Self {
        Self {
            table: TxTable::new(cap, [7, 7, 7, 7]),
            timers: Timers::new(cap),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Steps 1-3 of the call order, then removal once terminated and drained.
    fn after_input(&mut self, h: TxHandle, now: Instant) {
        let Some(tx) = self.table.get_mut(h) else {
            return;
        };
        while let Some(e) = tx.poll_event() {
            self.events.push((h, e));
        }
        let mut buf = Vec::new();
        while tx.poll_transmit(now, &mut buf).is_some() {
            self.sent.push(std::mem::take(&mut buf));
        }
        self.timers.update(h, tx.poll_timeout());
        if tx.is_terminated() {
            self.timers.remove(h);
            self.table.remove(h);
        }
    }

    fn on_invite(&mut self, now: Instant, branch: &str) -> Result<TxHandle, InsertError<()>> {
        let key = TxKeyRef::server(branch, "peer.example.com:5060", "INVITE");
        if let Some(h) = self.table.find(key) {
            if let Some(Transaction::ServerInvite(t)) = self.table.get_mut(h) {
                let _ = t.handle_request(now, crate::InviteInput::Invite);
            }
            self.after_input(h, now);
            return Ok(h);
        }
        let tx = ServerInviteTx::new(now, TimerConfig::default(), Reliability::Unreliable);
        let h = self
            .table
            .insert(key.to_owned_key(), Transaction::ServerInvite(tx))
            .map_err(|e| match e {
                InsertError::Full(_) => InsertError::Full(()),
                InsertError::Duplicate(h, _) => InsertError::Duplicate(h, ()),
                InsertError::KeyTooLong(_) => InsertError::KeyTooLong(()),
            })?;
        self.after_input(h, now);
        Ok(h)
    }

    fn respond(&mut self, now: Instant, h: TxHandle, code: u16) {
        if let Some(Transaction::ServerInvite(t)) = self.table.get_mut(h) {
            t.handle_tu_response(now, code, format!("SIP/2.0 {code}").into_bytes().into())
                .unwrap();
        }
        self.after_input(h, now);
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(h) = self.timers.pop_expired(now) {
            if let Some(tx) = self.table.get_mut(h) {
                tx.handle_timeout(now);
            }
            self.after_input(h, now);
        }
    }
}

#[test]
fn worker_drives_table_and_timers_to_empty() {
    let t0 = Instant::now();
    let mut w = Worker::new(2);
    let a = w.on_invite(t0, "z9hG4bKa").unwrap();
    let b = w.on_invite(t0, "z9hG4bKb").unwrap();
    // Third INVITE: the table is full → 503 decision, counter moved.
    let full = w.on_invite(t0, "z9hG4bKc").unwrap_err();
    assert_eq!(full.response_status().map(|s| s.code()), Some(503));
    assert_eq!(w.table.stats().refused_full, 1);
    // A retransmission of a is routed to the existing transaction.
    assert_eq!(w.on_invite(t0, "z9hG4bKa").unwrap(), a);

    w.respond(t0, a, 486); // Completed: G and H armed
    w.respond(t0, b, 200); // Accepted: L armed
    assert_eq!(w.timers.len(), 2);
    let mut now = t0;
    while let Some(d) = w.timers.next_deadline() {
        now = d;
        w.run_timers(now);
    }
    assert!(w.table.is_empty());
    assert!(w.timers.is_empty());
    assert_eq!(now - t0, Duration::from_secs(32));
    // a: 486 + G retransmits until H; b: one 200.
    let n486 = w.sent.iter().filter(|m| m.ends_with(b"486")).count();
    assert_eq!(n486, 11);
    assert!(w.events.contains(&(a, TxEvent::Timeout)));
    assert!(w.events.contains(&(b, TxEvent::Terminated)));
    // Re-arming happened only on change: far fewer re-arms than polls.
    assert!(w.timers.stats().unchanged > 0);
}
