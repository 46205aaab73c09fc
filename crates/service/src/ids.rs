//! Ids that never collide, and holders of leases that can be checked.
//!
//! An id is a prefix and a ULID-style string: 48 bits of milliseconds since
//! the epoch and 80 random bits, in lowercase Crockford base32 (26
//! characters), so ids sort by creation time and two processes (or two
//! requests in the same millisecond) never make the same one.
//!
//! A lease holder is `HOST:PID:START:ID`: the machine, the process and its
//! start time (so a reused pid is told apart), and an id unique to the
//! request. A holder on this machine whose process is gone can be taken
//! over at once; one on another machine only when its lease ends.

use crate::{Result, ServiceError};
use std::io::Read;
use std::sync::OnceLock;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let path = std::path::Path::new("/dev/urandom");
    let mut buf = vec![0u8; n];
    let mut f = std::fs::File::open(path).map_err(|e| ServiceError::io(path, e))?;
    f.read_exact(&mut buf).map_err(|e| ServiceError::io(path, e))?;
    Ok(buf)
}

/// A new id: `PREFIX-` and 26 characters, time-ordered and random.
pub fn new_id(prefix: &str) -> Result<String> {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let rand = random_bytes(10)?;
    let mut v: u128 = (ms & ((1u128 << 48) - 1)) << 80;
    for (i, b) in rand.iter().enumerate() {
        v |= u128::from(*b) << (8 * (9 - i));
    }
    let mut s = String::with_capacity(prefix.len() + 27);
    s.push_str(prefix);
    s.push('-');
    for i in (0..26).rev() {
        let d = ((v >> (5 * i)) & 31) as usize;
        s.push(char::from(CROCKFORD.get(d).copied().unwrap_or(b'0')));
    }
    Ok(s)
}

/// This process: machine, pid and start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    host: String,
    pid: u32,
    start: String,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The machine: host name and boot id (a host name alone may repeat across machines).
fn host() -> String {
    let name = read_trim("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let name: String = name.chars().map(|c| if c == ':' { '_' } else { c }).collect();
    match read_trim("/proc/sys/kernel/random/boot_id") {
        Some(boot) => format!("{name}@{}", boot.chars().take(8).collect::<String>()),
        None => name,
    }
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_string)
}

impl Process {
    pub(crate) fn current() -> &'static Process {
        static CURRENT: OnceLock<Process> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Process { host: host(), pid, start: start_time(pid).unwrap_or_else(|| "0".into()) }
        })
    }

    /// A lease holder for one piece of work of this process.
    pub(crate) fn holder(&self, what: &str) -> Result<String> {
        Ok(format!("{}:{}:{}:{}", self.host, self.pid, self.start, new_id(what)?))
    }
}

/// Whether `holder` names a process on this machine that has stopped (its
/// pid is not running, or runs a process started at another time).
/// Holders of other machines, or in another form, are never called gone.
pub(crate) fn holder_is_gone(holder: &str) -> bool {
    let mut parts = holder.splitn(4, ':');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let me = Process::current();
    if host != me.host || start == "0" {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == me.pid {
        return start != me.start;
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    match start_time(pid) {
        None => true,
        Some(s) => s != start,
    }
}

/// The process named by a holder, for listings: `HOST pid PID`.
pub fn holder_process(holder: &str) -> String {
    let mut parts = holder.splitn(4, ':');
    match (parts.next(), parts.next()) {
        (Some(h), Some(p)) => format!("{} pid {p}", h.split('@').next().unwrap_or(h)),
        _ => holder.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_26_characters() {
        let ids: Vec<String> = (0..2000).map(|_| new_id("d").unwrap()).collect();
        let set: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len(), "no two ids alike");
        assert!(ids.iter().all(|i| i.len() == 28 && i.starts_with("d-")));
        let a = new_id("d").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = new_id("d").unwrap();
        assert!(a < b, "later ids sort later: {a} {b}");
    }

    #[test]
    fn a_holder_of_this_process_is_alive_and_a_dead_pid_is_gone() {
        let me = Process::current().holder("lock").unwrap();
        assert!(!holder_is_gone(&me));
        // A child that exited: its pid is not running any more.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let p = Process::current();
        let dead = format!("{}:{pid}:{}:x", p.host, p.start);
        assert!(holder_is_gone(&dead), "{dead}");
        // The same pid with another start time is another process.
        let reused = format!("{}:{}:1:x", p.host, p.pid);
        assert!(holder_is_gone(&reused));
        // Another machine's holder is never called gone: only its lease tells.
        assert!(!holder_is_gone(&format!("elsewhere@1234:{pid}:5:x")));
        assert!(!holder_is_gone("manual-2026-01-01T00:00:00Z-123"));
    }
}
