//! Server-sent events: splits a byte stream into `event:`/`data:` records
//! (the WHATWG rules the providers follow: `\n` or `\r\n` line ends, one
//! optional space after the colon, multi-line data joined with `\n`, comment
//! lines starting with `:`, a record ended by a blank line or by the end of
//! the stream).

use std::io::{self, BufRead};

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field (empty when absent, as in OpenAI streams).
    pub event: String,
    pub data: String,
}

/// Longest line accepted (a tool-call delta is far smaller).
const MAX_LINE: usize = 16 << 20;

/// Reads events one by one.
pub struct SseReader<R> {
    inner: R,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    pub fn new(inner: R) -> Self {
        SseReader { inner, line: Vec::new() }
    }

    /// The next event, `None` at the end of the stream.
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        let mut ev = SseEvent::default();
        let mut has_data = false;
        loop {
            self.line.clear();
            let n =
                <&mut R as io::Read>::take(&mut self.inner, MAX_LINE as u64 + 1).read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Ok(if has_data || !ev.event.is_empty() { Some(ev) } else { None });
            }
            if self.line.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "SSE line longer than 16 MiB"));
            }
            let mut line: &[u8] = &self.line;
            if let Some(rest) = line.strip_suffix(b"\n") {
                line = rest;
            }
            if let Some(rest) = line.strip_suffix(b"\r") {
                line = rest;
            }
            if line.is_empty() {
                if has_data || !ev.event.is_empty() {
                    return Ok(Some(ev));
                }
                continue;
            }
            if line.starts_with(b":") {
                continue;
            }
            let line = std::str::from_utf8(line)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "SSE line is not UTF-8"))?;
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => ev.event = value.to_string(),
                "data" => {
                    if has_data {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &str) -> Vec<SseEvent> {
        let mut r = SseReader::new(input.as_bytes());
        let mut out = Vec::new();
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn splits_records_with_crlf_comments_multiline_and_no_final_blank_line() {
        let evs = all(": hi\r\nevent: a\r\ndata: 1\r\n\r\ndata:x\ndata: y\n\n\n\nevent: last\ndata: {}");
        assert_eq!(
            evs,
            vec![
                SseEvent { event: "a".into(), data: "1".into() },
                SseEvent { event: String::new(), data: "x\ny".into() },
                SseEvent { event: "last".into(), data: "{}".into() },
            ]
        );
    }
}
