//! Just enough STUN parsing to route a datagram to its peer connection.
//!
//! Every peer connection on the shared socket has its own ICE username fragment. A browser's
//! connectivity check carries `USERNAME = <our ufrag>:<their ufrag>`; that names the peer. The
//! full check (MESSAGE-INTEGRITY, FINGERPRINT) is done by the ICE agent of that peer connection.

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// True for the first byte range RFC 7983 assigns to STUN.
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= 20 && packet[0] < 4 && packet[4..8] == MAGIC_COOKIE
}

/// The local (first) half of the USERNAME attribute of a STUN message, if present.
pub fn local_ufrag(packet: &[u8]) -> Option<&str> {
    if !is_stun(packet) {
        return None;
    }
    let len = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    let body = packet.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + alen)?;
        if kind == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&[7u8; 12]);
        p.extend_from_slice(&attrs);
        p
    }

    #[test]
    fn finds_local_ufrag() {
        let p = binding_request("srvUfrag:browser");
        assert!(is_stun(&p));
        assert_eq!(local_ufrag(&p), Some("srvUfrag"));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(local_ufrag(&[0u8; 10]), None);
        let mut p = binding_request("abc:def");
        p[3] = 200; // length beyond the buffer
        assert_eq!(local_ufrag(&p), None);
        let rtp = [0x80u8; 40];
        assert!(!is_stun(&rtp));
    }
}
