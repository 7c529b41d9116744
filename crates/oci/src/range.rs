//! The two range headers of the protocol:
//! - `Range: bytes=<first>-<last>` on blob `GET` (RFC 9110, one range; suffix and open ranges);
//! - `Content-Range: <first>-<last>` on chunked upload `PATCH` (the distribution spec's form,
//!   without the `bytes ` unit; the RFC form `bytes <first>-<last>/<total>` is accepted too).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("range header {0:?} is malformed")]
    Malformed(String),
    #[error("range cannot be satisfied for a blob of {0} bytes")]
    Unsatisfiable(u64),
}

/// A requested byte range of a blob, before the blob's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    Bounded { first: u64, last: u64 },
    /// `bytes=first-`
    From { first: u64 },
    /// `bytes=-length`: the last `length` bytes.
    Suffix { length: u64 },
}

fn number(s: &str) -> Option<u64> {
    // RFC 9110 allows only digits; `u64::from_str` would also take a leading '+'.
    (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

impl ByteRange {
    /// Parses a `Range` header value. `Ok(None)` means "serve the whole blob": a unit other
    /// than bytes, or several ranges, which a server may ignore per RFC 9110 §14.2.
    pub fn parse(header: &str) -> Result<Option<ByteRange>, RangeError> {
        let malformed = || RangeError::Malformed(header.to_owned());
        let Some(spec) = header.trim().strip_prefix("bytes=") else {
            return Ok(None);
        };
        if spec.contains(',') {
            return Ok(None);
        }
        let (first, last) = spec.trim().split_once('-').ok_or_else(malformed)?;
        let range = match (first.is_empty(), last.is_empty()) {
            (true, true) => return Err(malformed()),
            (true, false) => ByteRange::Suffix { length: number(last).ok_or_else(malformed)? },
            (false, true) => ByteRange::From { first: number(first).ok_or_else(malformed)? },
            (false, false) => {
                let (first, last) = (number(first).ok_or_else(malformed)?, number(last).ok_or_else(malformed)?);
                if last < first {
                    return Err(malformed());
                }
                ByteRange::Bounded { first, last }
            }
        };
        Ok(Some(range))
    }

    /// The inclusive `(first, last)` byte positions within a blob of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), RangeError> {
        let unsatisfiable = RangeError::Unsatisfiable(size);
        match self {
            ByteRange::Bounded { first, last } if first < size => Ok((first, last.min(size - 1))),
            ByteRange::From { first } if first < size => Ok((first, size - 1)),
            ByteRange::Suffix { length } if length > 0 && size > 0 => Ok((size - length.min(size), size - 1)),
            _ => Err(unsatisfiable),
        }
    }
}

/// The byte positions a chunk claims to cover in an upload, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
}

impl ContentRange {
    pub fn parse(header: &str) -> Result<ContentRange, RangeError> {
        let malformed = || RangeError::Malformed(header.to_owned());
        let text = header.trim();
        let text = text.strip_prefix("bytes ").or_else(|| text.strip_prefix("bytes=")).unwrap_or(text);
        let text = text.split_once('/').map_or(text, |(range, _total)| range);
        let (first, last) = text.split_once('-').ok_or_else(malformed)?;
        let (first, last) = (number(first).ok_or_else(malformed)?, number(last).ok_or_else(malformed)?);
        if last < first {
            return Err(malformed());
        }
        Ok(ContentRange { first, last })
    }

    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc_range_forms() {
        assert_eq!(ByteRange::parse("bytes=0-9"), Ok(Some(ByteRange::Bounded { first: 0, last: 9 })));
        assert_eq!(ByteRange::parse("bytes=5-"), Ok(Some(ByteRange::From { first: 5 })));
        assert_eq!(ByteRange::parse("bytes=-3"), Ok(Some(ByteRange::Suffix { length: 3 })));
        assert_eq!(ByteRange::parse("bytes=0-1,4-5"), Ok(None));
        assert_eq!(ByteRange::parse("items=0-1"), Ok(None));
        for bad in ["bytes=", "bytes=-", "bytes=5-2", "bytes=a-b", "bytes=+1-2", "bytes=1"] {
            assert!(ByteRange::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn resolves_against_the_blob_size() {
        assert_eq!(ByteRange::Bounded { first: 2, last: 100 }.resolve(10), Ok((2, 9)));
        assert_eq!(ByteRange::Suffix { length: 3 }.resolve(10), Ok((7, 9)));
        assert_eq!(ByteRange::Suffix { length: 30 }.resolve(10), Ok((0, 9)));
        assert_eq!(ByteRange::From { first: 10 }.resolve(10), Err(RangeError::Unsatisfiable(10)));
        assert_eq!(ByteRange::Suffix { length: 0 }.resolve(10), Err(RangeError::Unsatisfiable(10)));
        assert!(ByteRange::From { first: 0 }.resolve(0).is_err());
    }

    #[test]
    fn parses_upload_content_ranges() {
        assert_eq!(ContentRange::parse("0-1023"), Ok(ContentRange { first: 0, last: 1023 }));
        assert_eq!(ContentRange::parse("bytes 10-19/*"), Ok(ContentRange { first: 10, last: 19 }));
        assert_eq!(ContentRange::parse("10-19").unwrap().len(), 10);
        for bad in ["", "5", "9-3", "-3", "a-b", "1-"] {
            assert!(ContentRange::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn resolved_ranges_lie_within_the_blob(header in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..5000) {
            if let Ok(Some(range)) = ByteRange::parse(&header) {
                if let Ok((first, last)) = range.resolve(size) {
                    prop_assert!(first <= last && last < size);
                }
            }
        }

        #[test]
        fn parsers_never_panic(header in "\\PC{0,40}") {
            let _ = ByteRange::parse(&header);
            let _ = ContentRange::parse(&header);
        }
    }
}
