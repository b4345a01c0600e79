//! Edit lists: the proxy keeps the received buffer and records insertions, replacements and
//! deletions against it, applied once at send time (STYLE L14; Kamailio `lump_struct.h`).
//! Used for RFC 3261 §16.6 request forwarding (push Via, pop Route, add Record-Route,
//! decrement Max-Forwards) without re-encoding the message.

use std::fmt;
use std::ops::Range;

/// Why an edit list could not be applied.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditError {
    /// An edit's range ends beyond the buffer or starts after it ends.
    OutOfBounds,
    /// Two replacements/deletions overlap, or an insertion falls strictly inside one.
    Overlap,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutOfBounds => "edit outside the message",
            Self::Overlap => "overlapping edits",
        })
    }
}

impl std::error::Error for EditError {}

/// One recorded edit: replace `range` of the original with `data[bytes]` (an insertion has
/// an empty range).
#[derive(Clone, Debug)]
struct Op {
    range: Range<usize>,
    bytes: Range<usize>,
}

/// An owned, reusable list of edits against one message buffer.
///
/// Edits refer to offsets of the *original* buffer. Several insertions at the same offset come
/// out in the order they were made, before a replacement or deletion starting there.
#[derive(Clone, Debug, Default)]
pub struct Edits {
    /// Sorted by (start, insertions first, insertion order).
    ops: Vec<Op>,
    data: Vec<u8>,
}

impl Edits {
    /// An empty edit list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets all edits, keeping the allocations for the next message.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.data.clear();
    }

    /// Whether there are no edits.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Inserts `bytes` before offset `at` of the original buffer.
    pub fn insert(&mut self, at: usize, bytes: &[u8]) {
        self.push(at..at, bytes);
    }

    /// Replaces `range` of the original buffer with `bytes`.
    pub fn replace(&mut self, range: Range<usize>, bytes: &[u8]) {
        self.push(range, bytes);
    }

    /// Deletes `range` of the original buffer.
    pub fn delete(&mut self, range: Range<usize>) {
        self.push(range, &[]);
    }

    /// The change in length applying the edits causes.
    pub fn len_delta(&self) -> isize {
        self.ops.iter().fold(0isize, |acc, op| {
            let added = isize::try_from(op.bytes.len()).unwrap_or(isize::MAX);
            let removed =
                isize::try_from(op.range.end.saturating_sub(op.range.start)).unwrap_or(isize::MAX);
            acc.saturating_add(added).saturating_sub(removed)
        })
    }

    /// Writes `buf` with the edits applied into `out` (which is cleared first).
    pub fn apply(&self, buf: &[u8], out: &mut Vec<u8>) -> Result<(), EditError> {
        out.clear();
        let mut at = 0;
        for op in &self.ops {
            if op.range.start > op.range.end || op.range.end > buf.len() {
                return Err(EditError::OutOfBounds);
            }
            if op.range.start < at {
                return Err(EditError::Overlap);
            }
            out.extend_from_slice(buf.get(at..op.range.start).ok_or(EditError::OutOfBounds)?);
            out.extend_from_slice(
                self.data
                    .get(op.bytes.clone())
                    .ok_or(EditError::OutOfBounds)?,
            );
            at = op.range.end;
        }
        out.extend_from_slice(buf.get(at..).ok_or(EditError::OutOfBounds)?);
        Ok(())
    }

    /// Records an edit, keeping `ops` sorted so that `apply` needs no allocation.
    fn push(&mut self, range: Range<usize>, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        let key = |r: &Range<usize>| (r.start, r.start != r.end);
        let new_key = key(&range);
        let idx = self.ops.partition_point(|op| key(&op.range) <= new_key);
        self.ops.insert(
            idx,
            Op {
                range,
                bytes: start..self.data.len(),
            },
        );
    }
}
