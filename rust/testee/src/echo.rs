//! TCP echo: every byte received is sent back (after any delay: stall, cold start, shape).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stall::{self, Stall};

/// Options of the echo mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Echo {
    /// Close each connection once this many bytes were echoed on it.
    pub close_after_bytes: Option<u64>,
}

impl Echo {
    /// Parses the echo mode's own flags.
    pub fn from_flags(flags: &[(String, String)]) -> Result<Echo, String> {
        let mut echo = Echo::default();
        for (flag, value) in flags {
            match flag.as_str() {
                "--close-after-bytes" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| format!("--close-after-bytes: {value:?} is not a count"))?;
                    if n == 0 {
                        return Err("--close-after-bytes must be at least 1".into());
                    }
                    echo.close_after_bytes = Some(n);
                }
                other => return Err(format!("unknown option {other:?} for mode echo")),
            }
        }
        Ok(echo)
    }

    /// Serves one connection.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut stream: S,
        stall: Option<Stall>,
    ) {
        // The listener set TCP_NODELAY on the socket.
        let mut buf = vec![0u8; 64 * 1024];
        let mut echoed = 0u64;
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let n = match self.close_after_bytes {
                Some(limit) => n.min((limit - echoed) as usize),
                None => n,
            };
            stall::wait(stall).await;
            if stream.write_all(&buf[..n]).await.is_err() {
                return;
            }
            echoed += n as u64;
            if self.close_after_bytes.is_some_and(|limit| echoed >= limit) {
                return;
            }
        }
    }
}
