//! Keyspace notifications (`notify-keyspace-events`), Redis's notify.c.
//!
//! The engine reports events through the sink installed here; commands
//! report theirs with [`Ctx::notify`] where Redis calls notifyKeyspaceEvent.
//! Each enabled event is published as a pub/sub message on
//! `__keyspace@<db>__:<key>` (payload: the event name) and/or
//! `__keyevent@<db>__:<event>` (payload: the key). With notifications off
//! (the default) a report is one atomic load.

use std::sync::Arc;

use larder_engine::events::{EventSink, KEYEVENT, KEYSPACE};

use crate::command::Ctx;
use crate::pubsub::PubSub;
use crate::shared::Shared;

struct KeyspaceSink(Arc<PubSub>);

fn channel(prefix: &[u8], db: usize, suffix: &[u8]) -> Vec<u8> {
    let mut itoa = itoa::Buffer::new();
    let db = itoa.format(db).as_bytes();
    let mut ch = Vec::with_capacity(prefix.len() + db.len() + 3 + suffix.len());
    ch.extend_from_slice(prefix);
    ch.extend_from_slice(db);
    ch.extend_from_slice(b"__:");
    ch.extend_from_slice(suffix);
    ch
}

impl EventSink for KeyspaceSink {
    fn event(&self, flags: u32, event: &str, db: usize, key: &[u8]) {
        if flags & KEYSPACE != 0 {
            let ch = channel(b"__keyspace@", db, key);
            self.0.publish(&ch, event.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            let ch = channel(b"__keyevent@", db, event.as_bytes());
            self.0.publish(&ch, key);
        }
    }
}

/// Connects the engine's events to the pub/sub registry.
pub fn install(shared: &Shared) {
    shared
        .engine
        .events
        .set_sink(Box::new(KeyspaceSink(shared.pubsub.clone())));
}

impl Ctx<'_> {
    /// Redis's notifyKeyspaceEvent for a key of the selected database.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.notify_db(class, event, self.client.db, key);
    }

    /// [`Ctx::notify`] for a key of database `db` (MOVE, COPY ... DB).
    #[inline]
    pub fn notify_db(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        crate::blocking::signal(self, db, key);
        self.shared.engine.events.emit(class, event, db, key);
    }
}
