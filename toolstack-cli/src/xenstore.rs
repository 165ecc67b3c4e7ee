//! Domain names on a real Xen, as `xl` reads them: xenstore's
//! `/local/domain/<id>/name`, over xenstored's Unix socket in dom0, in
//! xenstore's wire protocol (`xen/include/public/io/xs_wire.h`): a 16-byte
//! header (type, request id, transaction id, length, little-endian `u32`s)
//! and a payload. Not the kernel's `/dev/xen/xenbus` (what libxenstore falls
//! back to for a xenstore stub domain): with no xenstored behind it a read
//! there never returns, and a listing must not hang.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;

/// `XS_DIRECTORY`: the children of a path, NUL-separated.
const XS_DIRECTORY: u32 = 1;
/// `XS_READ`: a node's value.
const XS_READ: u32 = 2;
/// `XS_WRITE`: sets a node (`path\0value`).
const XS_WRITE: u32 = 11;
/// `XS_RM`: removes a node and its children.
const XS_RM: u32 = 13;
/// `XS_ERROR`: the answer is an errno name (`ENOENT`).
const XS_ERROR: u32 = 16;
/// xenstored's limit on a payload (`XENSTORE_PAYLOAD_MAX`).
const PAYLOAD_MAX: usize = 4096;

const SOCKETS: [&str; 2] = ["/run/xenstored/socket", "/var/run/xenstored/socket"];

/// A connection to xenstore.
pub(crate) struct XenStore<C> {
    conn: C,
}

/// xenstore from dom0, through xenstored's socket.
pub(crate) fn open() -> io::Result<XenStore<UnixStream>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no xenstored socket");
    for s in SOCKETS {
        match UnixStream::connect(s) {
            Ok(c) => {
                c.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
                return Ok(XenStore::over(c));
            }
            Err(e) => last = io::Error::new(e.kind(), format!("{s}: {e}")),
        }
    }
    Err(last)
}

impl<C: Read + Write> XenStore<C> {
    pub(crate) fn over(conn: C) -> Self {
        XenStore { conn }
    }

    fn request(&mut self, ty: u32, path: &str) -> io::Result<Vec<u8>> {
        self.request_with(ty, path, None)
    }

    /// A request on `path`, with `value` after it for a write.
    fn request_with(&mut self, ty: u32, path: &str, value: Option<&str>) -> io::Result<Vec<u8>> {
        let mut body = path.as_bytes().to_vec();
        body.push(0);
        if let Some(v) = value {
            body.extend_from_slice(v.as_bytes());
        }
        let mut msg = Vec::with_capacity(16 + body.len());
        for w in [ty, 0, 0, body.len() as u32] {
            msg.extend_from_slice(&w.to_le_bytes());
        }
        msg.extend_from_slice(&body);
        self.conn.write_all(&msg)?;
        let mut head = [0u8; 16];
        self.conn.read_exact(&mut head)?;
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let len = word(12) as usize;
        if len > PAYLOAD_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("xenstore answered {len} bytes"),
            ));
        }
        let mut payload = vec![0u8; len];
        self.conn.read_exact(&mut payload)?;
        if word(0) == XS_ERROR {
            let e = String::from_utf8_lossy(&payload)
                .trim_end_matches('\0')
                .to_string();
            return Err(io::Error::other(format!("xenstore: {path}: {e}")));
        }
        Ok(payload)
    }

    /// A node's value.
    pub(crate) fn read(&mut self, path: &str) -> io::Result<String> {
        let v = self.request(XS_READ, path)?;
        Ok(String::from_utf8_lossy(&v)
            .trim_end_matches('\0')
            .to_string())
    }

    /// Sets a node (made with its parents if missing).
    pub(crate) fn write(&mut self, path: &str, value: &str) -> io::Result<()> {
        self.request_with(XS_WRITE, path, Some(value)).map(|_| ())
    }

    /// Removes a node and everything under it.
    pub(crate) fn rm(&mut self, path: &str) -> io::Result<()> {
        self.request(XS_RM, path).map(|_| ())
    }

    /// The children of a node.
    pub(crate) fn directory(&mut self, path: &str) -> io::Result<Vec<String>> {
        let v = self.request(XS_DIRECTORY, path)?;
        Ok(v.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    /// Every domain's name, by ID.
    pub(crate) fn names(&mut self) -> io::Result<BTreeMap<u16, String>> {
        let mut m = BTreeMap::new();
        for id in self.directory("/local/domain")? {
            let Ok(n) = id.parse::<u16>() else { continue };
            if let Ok(name) = self.read(&format!("/local/domain/{n}/name")) {
                m.insert(n, name);
            }
        }
        Ok(m)
    }
}

/// The names of this host's domains, read once; `Err` says why xenstore
/// could not be read.
pub(crate) fn names() -> &'static Result<BTreeMap<u16, String>, String> {
    static NAMES: OnceLock<Result<BTreeMap<u16, String>, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        open()
            .and_then(|mut x| x.names())
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A xenstored that knows two domains, answering on `s`.
    fn serve(mut s: UnixStream) {
        let mut tree: BTreeMap<String, String> = [
            ("/local/domain/0/name", "Domain-0"),
            ("/local/domain/3/name", "web"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        loop {
            let mut head = [0u8; 16];
            if s.read_exact(&mut head).is_err() {
                return;
            }
            let ty = u32::from_le_bytes(head[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).unwrap();
            let nul = body
                .iter()
                .position(|&b| b == 0)
                .expect("a NUL after the path");
            let path = std::str::from_utf8(&body[..nul]).unwrap().to_string();
            let value = std::str::from_utf8(&body[nul + 1..]).unwrap().to_string();
            if ty != XS_WRITE {
                assert_eq!(nul + 1, len, "only a write has a value");
            }
            let (ty, answer): (u32, Vec<u8>) = match (ty, path.as_str()) {
                (XS_DIRECTORY, "/local/domain") => (ty, b"0\x003\x00".to_vec()),
                (XS_READ, p) if tree.contains_key(p) => (ty, tree[p].as_bytes().to_vec()),
                (XS_WRITE, p) => {
                    tree.insert(p.to_string(), value);
                    (ty, b"OK\0".to_vec())
                }
                (XS_RM, p) => {
                    tree.retain(|k, _| !k.starts_with(p));
                    (ty, b"OK\0".to_vec())
                }
                _ => (XS_ERROR, b"ENOENT\0".to_vec()),
            };
            let mut out = Vec::new();
            for w in [ty, 0, 0, answer.len() as u32] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&answer);
            s.write_all(&out).unwrap();
        }
    }

    #[test]
    fn reads_names_over_the_wire_protocol() {
        let (a, b) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || serve(b));
        let mut x = XenStore::over(a);
        let names = x.names().unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec![(0, "Domain-0".to_string()), (3, "web".to_string())]
        );
        let e = x.read("/local/domain/7/name").unwrap_err();
        assert!(e.to_string().contains("ENOENT"), "{e}");
        x.write("/local/pool/1/name", "pool1").unwrap();
        assert_eq!(x.read("/local/pool/1/name").unwrap(), "pool1");
        x.rm("/local/pool/1").unwrap();
        assert!(x.read("/local/pool/1/name").is_err());
        drop(x);
        server.join().unwrap();
    }
}
