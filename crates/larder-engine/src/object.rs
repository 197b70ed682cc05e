//! Collection values: what an entry of kind `Object` points at.
//!
//! An [`Object`] is one of Redis's collection types; each type picks its
//! own representation (see `types/`) and names it as OBJECT ENCODING does.
//! Entries hold their object inline (see `entry.rs`), so a command changes
//! a collection in place under its shard's lock; the object itself is a
//! handle of one or two words (24 bytes at most) to the collection's data. [`ObjType`] lets
//! generic code (the `Txn` helpers) ask for "the list at this key".

use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};

#[derive(Clone, Debug)]
pub enum Object {
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is larger than the other handles.
    Stream(Box<Stream>),
}

impl Object {
    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::List(_) => "list",
            Object::Hash(_) => "hash",
            Object::Set(_) => "set",
            Object::ZSet(_) => "zset",
            Object::Stream(_) => "stream",
        }
    }

    /// OBJECT ENCODING's answer, as Redis 7.0 names it.
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::List(_) => "quicklist",
            Object::Hash(h) => h.encoding(),
            Object::Set(s) => s.encoding(),
            Object::ZSet(z) => z.encoding(),
            Object::Stream(_) => "stream",
        }
    }

    /// Elements (list items, hash fields, set members).
    pub fn len(&self) -> usize {
        match self {
            Object::List(l) => l.len(),
            Object::Hash(h) => h.len(),
            Object::Set(s) => s.len(),
            Object::ZSet(z) => z.len(),
            Object::Stream(s) => s.len(),
        }
    }

    /// What freeing costs, as Redis's lazyfreeGetFreeEffort counts it
    /// (list nodes; a stream's nodes, plus each group and, estimated from
    /// the first group's, its pending entries; else elements): UNLINK frees
    /// big ones off-thread.
    pub fn free_effort(&self) -> usize {
        match self {
            Object::List(l) => l.node_count(),
            Object::Stream(s) => {
                let groups = s
                    .groups
                    .values()
                    .next()
                    .map_or(0, |g| s.groups.len() * (1 + g.pel.len()));
                s.node_count() + groups
            }
            o => o.len(),
        }
    }

    /// Redis deletes a collection's key when it becomes empty (never a
    /// stream's: an empty stream keeps its IDs and groups).
    pub fn is_empty(&self) -> bool {
        !matches!(self, Object::Stream(_)) && self.len() == 0
    }
}

/// A collection type that can be found inside an [`Object`].
pub trait ObjType: Sized {
    fn of(o: &Object) -> Option<&Self>;
    fn of_mut(o: &mut Object) -> Option<&mut Self>;
    fn wrap(self) -> Object;
}

macro_rules! obj_type {
    ($t:ty, $v:ident) => {
        impl ObjType for $t {
            fn of(o: &Object) -> Option<&Self> {
                match o {
                    Object::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn of_mut(o: &mut Object) -> Option<&mut Self> {
                match o {
                    Object::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(self) -> Object {
                Object::$v(self)
            }
        }
    };
}

obj_type!(List, List);
obj_type!(Hash, Hash);
obj_type!(Set, Set);
obj_type!(ZSet, ZSet);

impl ObjType for Stream {
    fn of(o: &Object) -> Option<&Self> {
        match o {
            Object::Stream(x) => Some(x),
            _ => None,
        }
    }
    fn of_mut(o: &mut Object) -> Option<&mut Self> {
        match o {
            Object::Stream(x) => Some(x),
            _ => None,
        }
    }
    fn wrap(self) -> Object {
        Object::Stream(Box::new(self))
    }
}
