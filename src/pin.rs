//! SPKI SHA-256 pins (RFC 7469 §2.4): the base64 of the SHA-256 digest of a certificate's
//! DER-encoded SubjectPublicKeyInfo. The verifier and the `pin` subcommand share this code,
//! so a pin printed by `strictdot pin` is, byte for byte, what the verifier compares.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One SPKI SHA-256 pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

/// Why a pin string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not valid standard (RFC 4648 §4) base64.
    #[error("a pin must be base64 (RFC 4648, with padding) of a 32-byte SHA-256 digest; this is not base64")]
    NotBase64,
    /// Decoded to the wrong number of bytes.
    #[error("a pin must be base64 of a 32-byte SHA-256 digest; this decodes to {0} bytes")]
    WrongLength(usize),
}

impl Pin {
    /// The pin of a DER-encoded SubjectPublicKeyInfo (outer SEQUENCE included).
    pub fn of_spki(spki_der: &[u8]) -> Pin {
        Pin(Sha256::digest(spki_der).into())
    }

    /// The raw digest.
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Pin {
    type Err = PinError;

    /// Accepts the bare base64 form (as in RFC 7469's `pin-sha256="…"`), optionally with
    /// a `sha256/` or `pin-sha256=` prefix and surrounding quotes, as other tools print it.
    fn from_str(s: &str) -> Result<Pin, PinError> {
        let s = s.trim();
        // The bare form first, so every printed pin parses back to itself (a base64 text
        // can itself begin with "sha256/").
        if let Ok(pin) = decode(s) {
            return Ok(pin);
        }
        let s = s
            .strip_prefix("pin-sha256=")
            .or_else(|| s.strip_prefix("sha256/"))
            .unwrap_or(s);
        decode(s.trim_matches('"'))
    }
}

fn decode(s: &str) -> Result<Pin, PinError> {
    let bytes = STANDARD.decode(s).map_err(|_| PinError::NotBase64)?;
    let digest: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| PinError::WrongLength(bytes.len()))?;
    Ok(Pin(digest))
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

/// The pin of a DER certificate's key, extracted by webpki exactly as the verifier does;
/// `None` if webpki cannot parse the certificate.
pub fn of_certificate(der: &rustls_pki_types::CertificateDer<'_>) -> Option<Pin> {
    let anchor = webpki::anchor_from_trusted_cert(der).ok()?;
    Some(Pin::of_spki(&webpki::spki_for_anchor(&anchor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_forms() {
        let pin = Pin::of_spki(b"not really an spki");
        let text = pin.to_string();
        assert_eq!(text.len(), 44);
        assert_eq!(text.parse::<Pin>().unwrap(), pin);
        assert_eq!(format!("sha256/{text}").parse::<Pin>().unwrap(), pin);
        assert_eq!(
            format!("pin-sha256=\"{text}\"").parse::<Pin>().unwrap(),
            pin
        );
    }

    #[test]
    fn rejects_bad_pins() {
        assert_eq!("not base64!".parse::<Pin>(), Err(PinError::NotBase64));
        assert_eq!("AAAA".parse::<Pin>(), Err(PinError::WrongLength(3)));
        assert_eq!("".parse::<Pin>(), Err(PinError::WrongLength(0)));
    }
}
