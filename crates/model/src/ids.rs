use std::fmt;
use std::str::FromStr;

/// Why a trace or span id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected} bytes, got {got}")]
    WrongLength { kind: &'static str, expected: usize, got: usize },
    #[error("{kind} must not be all zeroes")]
    AllZero { kind: &'static str },
    #[error("{kind} must be {expected} hex digits: {reason}")]
    BadHex { kind: &'static str, expected: usize, reason: String },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $label:expr) => {
        #[doc = concat!("A valid (non-zero) ", $label, " of ", stringify!($len), " bytes.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// Builds an id from raw bytes, refusing wrong lengths and the all-zero id
            /// (both invalid per the OTLP specification).
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $label,
                    expected: $len,
                    got: bytes.len(),
                })?;
                Self::from_bytes(array)
            }

            pub fn from_bytes(bytes: [u8; $len]) -> Result<Self, IdError> {
                if bytes.iter().all(|byte| *byte == 0) {
                    return Err(IdError::AllZero { kind: $label });
                }
                Ok(Self(bytes))
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Parses lower- or upper-case hex of exactly the id's length.
            fn from_str(text: &str) -> Result<Self, IdError> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|err| IdError::BadHex {
                    kind: $label,
                    expected: $len * 2,
                    reason: err.to_string(),
                })?;
                Self::from_bytes(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips_through_hex() {
        let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        assert_eq!(id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let upper: TraceId = "4BF92F3577B34DA6A3CE929D0E0E4736".parse().unwrap();
        assert_eq!(id, upper);
    }

    #[test]
    fn invalid_ids_are_refused_with_a_reason() {
        assert_eq!(SpanId::from_slice(&[1, 2, 3]), Err(IdError::WrongLength { kind: "span id", expected: 8, got: 3 }));
        assert_eq!(SpanId::from_slice(&[0; 8]), Err(IdError::AllZero { kind: "span id" }));
        let err = "xyz".parse::<TraceId>().unwrap_err();
        assert!(err.to_string().contains("32 hex digits"), "{err}");
    }
}
