//! How both targets read their input: a flag byte, a count `n` (0 to 7) of piece-length
//! bytes, those `n` bytes, then the stream itself. The stream is fed in pieces of
//! `len[i % n] + 1` bytes (`n` = 0: in one piece), so libFuzzer mutates where the reads
//! end as well as what they carry, and incremental parsing is exercised at every split.

/// The parsed input.
pub struct Input<'a> {
    pub flags: u8,
    pub stream: &'a [u8],
    lens: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let (&flags, rest) = data.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n % 8);
        if rest.len() < n {
            return None;
        }
        let (lens, stream) = rest.split_at(n);
        Some(Input {
            flags,
            stream,
            lens,
        })
    }

    /// Ascending piece ends inside the stream (the last piece ends at its length).
    pub fn cuts(&self) -> Vec<usize> {
        let mut cuts = Vec::new();
        if self.lens.is_empty() {
            return cuts;
        }
        let mut at = 0;
        for i in 0.. {
            at += usize::from(self.lens[i % self.lens.len()]) + 1;
            if at >= self.stream.len() {
                break;
            }
            cuts.push(at);
        }
        cuts
    }
}

/// The stream's pieces ending at `cuts`, then the rest.
pub fn pieces<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&stream.len())) {
        out.push(&stream[from..to]);
        from = to;
    }
    out
}
