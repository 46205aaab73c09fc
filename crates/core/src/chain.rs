//! Hash chain over a session's events.
//!
//! `h[-1] = SHA-256("nocturne-chain-v1" || session id)`, and
//! `h[i] = SHA-256(h[i-1] || encode(event i))` where `encode` writes every
//! stored field (normalized and raw) length-prefixed, so that changing any
//! byte of a stored event changes every hash from it on.

use crate::session::NewEvent;
use sha2::{Digest, Sha256};

/// The hash of a chain with no events, seeded by the session id.
pub fn genesis(session_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"nocturne-chain-v1");
    field(&mut h, Some(session_id.as_bytes()));
    h.finalize().into()
}

fn field(h: &mut Sha256, v: Option<&[u8]>) {
    match v {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

/// The next link: the hash of `prev` followed by the event.
pub fn link(prev: &[u8; 32], seq: u32, e: &NewEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_le_bytes());
    field(&mut h, Some(e.role.as_str().as_bytes()));
    field(&mut h, Some(e.kind.as_str().as_bytes()));
    field(&mut h, e.tool_name.as_deref().map(str::as_bytes));
    field(&mut h, e.tool_input.as_deref().map(str::as_bytes));
    field(&mut h, e.tool_use_id.as_deref().map(str::as_bytes));
    field(&mut h, e.text.as_deref().map(str::as_bytes));
    h.update([u8::from(e.is_error), u8::from(e.sidechain)]);
    field(&mut h, e.timestamp.as_deref().map(str::as_bytes));
    field(&mut h, e.source_line.map(|l| l.to_le_bytes()).as_ref().map(|b| &b[..]));
    field(&mut h, Some(e.raw.as_bytes()));
    h.finalize().into()
}

/// Hashes of every prefix of the chain, in order.
pub fn hashes<'a>(session_id: &str, events: impl IntoIterator<Item = &'a NewEvent>) -> Vec<[u8; 32]> {
    let mut prev = genesis(session_id);
    let mut out = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        prev = link(&prev, i as u32, e);
        out.push(prev);
    }
    out
}

/// Hex of the head hash of the chain (the genesis hash when empty).
pub fn head_hex<'a>(session_id: &str, events: impl IntoIterator<Item = &'a NewEvent>) -> String {
    let hs = hashes(session_id, events);
    hex::encode(hs.last().copied().unwrap_or_else(|| genesis(session_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EventKind, Role};

    fn ev(text: &str) -> NewEvent {
        NewEvent {
            role: Role::User,
            kind: EventKind::UserMessage,
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: Some(text.into()),
            is_error: false,
            timestamp: None,
            sidechain: false,
            source_line: Some(1),
            raw: format!("{{\"text\":{text:?}}}"),
        }
    }

    #[test]
    fn changing_any_event_changes_the_head() {
        let a = vec![ev("one"), ev("two")];
        let mut b = a.clone();
        b[0].raw.push(' ');
        assert_ne!(head_hex("s", &a), head_hex("s", &b));
        let mut c = a.clone();
        c[1].is_error = true;
        assert_ne!(head_hex("s", &a), head_hex("s", &c));
    }

    #[test]
    fn the_session_id_seeds_the_chain() {
        let a = vec![ev("one")];
        assert_ne!(head_hex("s1", &a), head_hex("s2", &a));
        assert_eq!(head_hex("s1", &a), head_hex("s1", &a));
    }
}
