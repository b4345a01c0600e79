//! Finding the Call-ID of a raw SIP message without parsing it, the same way the steering
//! program does in the kernel (see [`crate::steer`]), so that user space and BPF agree on
//! which worker owns a message.

/// Returns the value of the first `Call-ID` (or compact `i`, RFC 3261 §7.3.3) header of a raw
/// SIP message: the bytes after the colon with leading and trailing SP/HTAB removed, up to the
/// end of the line. Only the header section is searched; `None` when there is no such header.
pub fn find_call_id(msg: &[u8]) -> Option<&[u8]> {
    // Skip the start line.
    let mut pos = memchr::memchr(b'\n', msg)? + 1;
    while pos < msg.len() {
        let end = memchr::memchr(b'\n', &msg[pos..]).map_or(msg.len(), |e| pos + e);
        let line = &msg[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None; // end of headers
        }
        if let Some(v) = call_id_value(line) {
            return Some(v);
        }
        pos = end + 1;
    }
    None
}

/// If `line` is a Call-ID header line, its trimmed value.
fn call_id_value(line: &[u8]) -> Option<&[u8]> {
    let first = *line.first()?;
    let name_len = if first.eq_ignore_ascii_case(&b'i') {
        1
    } else if line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"call-id") {
        7
    } else {
        return None;
    };
    let rest = &line[name_len..];
    let rest = trim_start(rest);
    let value = rest.strip_prefix(b":")?;
    let value = trim_end(trim_start(value));
    if value.is_empty() {
        None
    } else {
        Some(value)
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    &s[n..]
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::find_call_id;

    #[test]
    fn long_and_compact_forms() {
        let m = b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\nCall-ID: abc@host \r\n\r\n";
        assert_eq!(find_call_id(m), Some(&b"abc@host"[..]));
        let m = b"SIP/2.0 200 OK\r\ni:\txyz\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(find_call_id(m), Some(&b"xyz"[..]));
        let m = b"BYE sip:a SIP/2.0\nCALL-ID : q1\n\n";
        assert_eq!(find_call_id(m), Some(&b"q1"[..]));
    }

    #[test]
    fn not_in_body_or_other_headers() {
        let m = b"INVITE sip:a SIP/2.0\r\nIn-Reply-To: zzz\r\nid: no\r\n\r\nCall-ID: body\r\n";
        assert_eq!(find_call_id(m), None);
        assert_eq!(find_call_id(b""), None);
        assert_eq!(find_call_id(b"garbage"), None);
        assert_eq!(find_call_id(b"X\r\nCall-ID:\r\n\r\n"), None);
    }
}
