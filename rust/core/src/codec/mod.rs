//! Protocol codecs: what one request is, and when the reply to it is complete.
//!
//! A codec is fed the reply incrementally, chunk by chunk as the socket yields it, so
//! no reply is ever buffered whole by the connection loop.

pub mod http;
pub mod ws;

use std::rc::Rc;

use crate::plan::TcpSpec;

/// Where a reply stands after a chunk was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    Incomplete,
    /// The reply is complete and used every byte fed.
    Complete,
    /// The reply broke the protocol; the connection cannot be trusted any more.
    Invalid,
}

/// A codec for one connection. One variant per protocol: the connection loop is shared.
#[derive(Debug, Clone)]
pub enum Codec {
    /// Raw TCP with a fixed payload and a fixed reply length.
    Tcp(TcpCodec),
}

impl Codec {
    /// A codec for the plan's protocol; the payload is shared by the worker's connections.
    pub fn tcp(spec: &TcpSpec) -> Codec {
        Codec::Tcp(TcpCodec {
            payload: Rc::from(spec.payload.as_slice()),
            reply_bytes: spec.reply_bytes,
            received: 0,
        })
    }

    /// Bytes of the next request; also resets the reply state.
    pub fn request(&mut self) -> Rc<[u8]> {
        match self {
            Codec::Tcp(c) => {
                c.received = 0;
                Rc::clone(&c.payload)
            }
        }
    }

    /// Feeds the next chunk of the reply.
    pub fn feed(&mut self, chunk: &[u8]) -> Progress {
        match self {
            Codec::Tcp(c) => c.feed(chunk),
        }
    }
}

/// Raw TCP: the reply is complete after a fixed number of bytes.
#[derive(Debug, Clone)]
pub struct TcpCodec {
    payload: Rc<[u8]>,
    reply_bytes: usize,
    received: usize,
}

impl TcpCodec {
    fn feed(&mut self, chunk: &[u8]) -> Progress {
        self.received += chunk.len();
        match self.received.cmp(&self.reply_bytes) {
            std::cmp::Ordering::Less => Progress::Incomplete,
            std::cmp::Ordering::Equal => Progress::Complete,
            // Only one request is in flight, so extra bytes belong to no request.
            std::cmp::Ordering::Greater => Progress::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(reply_bytes: usize) -> Codec {
        Codec::tcp(&TcpSpec {
            payload: b"ping".to_vec(),
            reply_bytes,
        })
    }

    #[test]
    fn reply_completes_across_chunks() {
        let mut c = codec(5);
        assert_eq!(&*c.request(), b"ping");
        assert_eq!(c.feed(b"ab"), Progress::Incomplete);
        assert_eq!(c.feed(b"cd"), Progress::Incomplete);
        assert_eq!(c.feed(b"e"), Progress::Complete);
        // The next request starts a fresh reply.
        c.request();
        assert_eq!(c.feed(b"abcde"), Progress::Complete);
    }

    #[test]
    fn extra_bytes_are_a_protocol_error() {
        let mut c = codec(2);
        c.request();
        assert_eq!(c.feed(b"abc"), Progress::Invalid);
    }
}
