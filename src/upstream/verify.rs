//! `StrictVerifier`: every upstream authentication decision of strictdot lives here.
//!
//! RFC 8310 strict profile, three modes, chosen per upstream at construction:
//! - **name only**: the chain must lead to a trust anchor (webpki roots plus `--ca-file`)
//!   and the end-entity certificate must be valid for the authentication domain name;
//! - **pins only**: the end-entity key (which signed the handshake) is pinned, or a
//!   certificate whose key is pinned verifiably signs, through the presented chain, down to
//!   the end-entity certificate; a pinned certificate merely *appended* to a chain it did
//!   not sign authenticates nothing;
//! - **name and pins**: both, and the pin must be on the chain that was validated
//!   (end-entity, an intermediate, or the trust anchor of that path).
//!
//! In every mode the handshake signature is checked by rustls against the end-entity key
//! (TLS 1.2 and 1.3), validity periods are enforced (a CA certificate given by `--ca-file`
//! or a policy `ca_file` included: webpki checks no trust anchor's dates, so a path that
//! ends at one outside its validity period is refused here, see [`TrustAnchors`]), and
//! there is no setting that turns any of this off. The SPKI bytes hashed for a pin are the ones webpki itself parsed and
//! verified signatures with, so the hash and the checks cannot disagree about the key.
//!
//! An accepted verification also leaves a [`Verified`] record in the verifier's
//! [`LastVerified`] slot: which configured pins were on the accepted path and where, and
//! when its certificates expire. `strictdot check --live`, the expiry metrics and the
//! rotation warnings read it after the handshake; nothing decides anything from it.

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256};
use webpki::{EndEntityCert, KeyUsage, VerifiedPath};

use crate::pin::Pin;

/// How one upstream is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Chain to the trust anchors and a name match.
    Name(DnsName<'static>),
    /// SPKI pins only.
    Pins(Vec<Pin>),
    /// Both a name on a validated chain and a pin on that same chain.
    NameAndPins(DnsName<'static>, Vec<Pin>),
}

impl AuthMode {
    /// Chooses the mode from what was configured; `None` when neither a name nor a pin is
    /// given, which the strict profile does not allow (RFC 8310 §5).
    pub fn new(name: Option<DnsName<'static>>, pins: Vec<Pin>) -> Option<AuthMode> {
        match (name, pins.is_empty()) {
            (None, true) => None,
            (None, false) => Some(AuthMode::Pins(pins)),
            (Some(n), true) => Some(AuthMode::Name(n)),
            (Some(n), false) => Some(AuthMode::NameAndPins(n, pins)),
        }
    }

    /// The authentication name, if the mode has one.
    pub fn name(&self) -> Option<&DnsName<'static>> {
        match self {
            AuthMode::Name(n) | AuthMode::NameAndPins(n, _) => Some(n),
            AuthMode::Pins(_) => None,
        }
    }

    /// The pins, if the mode has any.
    pub fn pins(&self) -> &[Pin] {
        match self {
            AuthMode::Pins(p) | AuthMode::NameAndPins(_, p) => p,
            AuthMode::Name(_) => &[],
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMode::Name(n) => write!(f, "name {} (PKIX)", n.as_ref()),
            AuthMode::Pins(p) => write!(f, "{} SPKI pin(s), no name", p.len()),
            AuthMode::NameAndPins(n, p) => {
                write!(f, "name {} (PKIX) and {} SPKI pin(s)", n.as_ref(), p.len())
            }
        }
    }
}

/// Authentication failures of our own making (the rest are webpki's, mapped to rustls').
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinFailure {
    /// No pinned key appears on a chain that verifies to the end-entity certificate.
    #[error("SPKI pin mismatch: no pinned key signs the presented end-entity certificate")]
    NoPinnedKeyOnChain,
    /// The chain validated, but no certificate on it carries a pinned key.
    #[error("SPKI pin mismatch: the validated chain holds no pinned key")]
    NotOnValidatedChain,
}

/// A validated path refused because the trust anchor it ends at, a CA certificate the
/// operator gave (`--ca-file`, policy `ca_file`), is outside its validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchorFailure {
    /// Past the CA certificate's notAfter.
    #[error(
        "the CA certificate from --ca-file (or policy ca_file) that the chain ends at has expired"
    )]
    Expired,
    /// Before the CA certificate's notBefore.
    #[error("the CA certificate from --ca-file (or policy ca_file) that the chain ends at is not valid yet")]
    NotValidYet,
}

/// The trust anchors one upstream's chains may end at: the compiled-in roots, and the CA
/// certificates the operator gave (`--ca-file`, policy `ca_file`) with their validity
/// periods. Cheap to clone.
///
/// webpki checks no trust anchor's dates (RFC 5280 §6.1.1 leaves trust-anchor management to
/// the relying party). The compiled-in roots are managed by their maintainers and trusted as
/// shipped; a CA certificate from a file is trusted only within its own notBefore..notAfter,
/// as a pinned certificate is in pins-only mode.
#[derive(Clone)]
pub struct TrustAnchors {
    /// Every anchor, compiled-in first, for webpki's path building.
    anchors: Arc<[TrustAnchor<'static>]>,
    /// The validity period of each operator-given anchor that is not also compiled in.
    dated: Arc<[DatedAnchor]>,
}

/// An operator-given trust anchor and the validity period of its certificate.
struct DatedAnchor {
    anchor: TrustAnchor<'static>,
    /// notBefore and notAfter, in seconds since the Unix epoch.
    not_before: i64,
    not_after: i64,
}

impl TrustAnchors {
    /// The anchors `builtin` (trusted without dates) and one per CA certificate in
    /// `operator`; fails on a certificate webpki cannot use as an anchor or whose validity
    /// period cannot be read.
    pub fn new(
        builtin: &[TrustAnchor<'static>],
        operator: &[CertificateDer<'_>],
    ) -> Result<TrustAnchors, webpki::Error> {
        let mut anchors = builtin.to_vec();
        let mut dated = Vec::new();
        for cert in operator {
            let anchor = webpki::anchor_from_trusted_cert(cert)?.to_owned();
            let (_, parsed) =
                x509_parser::parse_x509_certificate(cert).map_err(|_| webpki::Error::BadDer)?;
            let validity = parsed.validity();
            // A copy of a compiled-in root is trusted as that root is.
            if !builtin.iter().any(|b| same_anchor(b, &anchor)) {
                dated.push(DatedAnchor {
                    anchor: anchor.clone(),
                    not_before: validity.not_before.timestamp(),
                    not_after: validity.not_after.timestamp(),
                });
            }
            anchors.push(anchor);
        }
        Ok(TrustAnchors {
            anchors: anchors.into(),
            dated: dated.into(),
        })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Whether a path may end at `anchor` at `now`: a compiled-in root always; an
    /// operator-given one if a certificate given for it is within its validity period.
    fn check(&self, anchor: &TrustAnchor<'_>, now: UnixTime) -> Result<(), AnchorFailure> {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let mut verdict = Ok(());
        for d in self.dated.iter().filter(|d| same_anchor(&d.anchor, anchor)) {
            if now < d.not_before {
                verdict = Err(AnchorFailure::NotValidYet);
            } else if now > d.not_after {
                verdict = Err(AnchorFailure::Expired);
            } else {
                return Ok(());
            }
        }
        verdict
    }

    /// The notAfter (seconds since the epoch) of an operator-given anchor that `check`
    /// accepts at `now`, the latest if the file gave it more than once; `None` for a
    /// compiled-in root, which carries no date.
    fn not_after(&self, anchor: &TrustAnchor<'_>, now: UnixTime) -> Option<i64> {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.dated
            .iter()
            .filter(|d| same_anchor(&d.anchor, anchor))
            .filter(|d| d.not_before <= now && now <= d.not_after)
            .map(|d| d.not_after)
            .max()
    }
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("anchors", &self.anchors.len())
            .field("from_files", &self.dated.len())
            .finish()
    }
}

/// Whether two anchors are the same subject with the same key (name constraints aside).
fn same_anchor(a: &TrustAnchor<'_>, b: &TrustAnchor<'_>) -> bool {
    a.subject.as_ref() == b.subject.as_ref()
        && a.subject_public_key_info.as_ref() == b.subject_public_key_info.as_ref()
}

/// Where a certificate with a pinned key sits on the path that authenticated an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// The server's own certificate: its key signed the handshake, and it changes whenever
    /// the server's operator renews the certificate with a new key.
    EndEntity,
    /// A CA certificate between the end entity and the trust anchor.
    Intermediate,
    /// The trust anchor that ended the path: a root of the trust store (name and pins), or
    /// in pins-only mode a presented self-issued CA certificate taken as the sole anchor.
    Anchor,
}

impl Position {
    /// The word used in `check`, logs and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Position::EndEntity => "end-entity",
            Position::Intermediate => "intermediate",
            Position::Anchor => "anchor",
        }
    }
}

/// What an accepted verification established besides "accepted": the configured pins
/// found on the accepted path and where, and when that path's certificates expire. Read
/// after a completed handshake (`strictdot check --live`, the expiry metrics, the rotation
/// warnings); never consulted for a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// SHA-256 of the end-entity certificate (DER), tying the record to the connection
    /// that presented that certificate.
    end_entity: [u8; 32],
    /// The configured pins on the accepted path with where each sits, end entity first
    /// (empty in name-only mode). In pins-only mode: every pinned key that on its own
    /// authenticates the end entity (its own key, or a presented certificate that signs
    /// down to it).
    pub matched: Vec<(Pin, Position)>,
    /// notAfter of the end-entity certificate, seconds since the epoch (`None`: the date
    /// could not be read).
    pub end_entity_expiry: Option<i64>,
    /// The earliest notAfter on the accepted path, seconds since the epoch: the end entity,
    /// the intermediates, a CA certificate from `--ca-file` or a policy `ca_file` that the
    /// path ended at, and a pinned anchor certificate the server presented. A compiled-in
    /// root carries no date and is not counted.
    pub chain_expiry: Option<i64>,
}

impl Verified {
    /// Whether every matched pin is the end-entity key (and one is): the pins then hold
    /// only until the server's next certificate with a new key.
    pub fn only_end_entity_matched(&self) -> bool {
        !self.matched.is_empty()
            && self
                .matched
                .iter()
                .all(|(_, at)| *at == Position::EndEntity)
    }
}

/// The record of a verifier's latest accepted verification, shared with whoever reads it
/// after a handshake.
#[derive(Debug, Default)]
pub struct LastVerified(Mutex<Option<Verified>>);

impl LastVerified {
    /// The record of the latest accepted verification, if it accepted `end_entity` (the
    /// certificate the connection at hand presented; a resumed session presents the one of
    /// its original handshake).
    pub fn of(&self, end_entity: &CertificateDer<'_>) -> Option<Verified> {
        let digest: [u8; 32] = Sha256::digest(end_entity).into();
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|v| v.end_entity == digest).cloned()
    }

    fn store(&self, verified: Verified) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(verified);
    }
}

/// The rustls verifier for one upstream. See the module documentation.
pub type StrictVerifier = Verifier<Strict>;

/// What [`StrictVerifier`] decides about a chain: the mode, the trust anchors, the record of
/// the latest accepted verification.
pub struct Strict {
    mode: AuthMode,
    roots: TrustAnchors,
    algs: WebPkiSupportedAlgorithms,
    /// The latest accepted verification, for reports only.
    last: Arc<LastVerified>,
}

impl fmt::Debug for Strict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictVerifier")
            .field("mode", &self.mode)
            .field("roots", &self.roots)
            .finish()
    }
}

impl StrictVerifier {
    /// A verifier for `mode`, trusting `roots` for path validation.
    pub fn new(mode: AuthMode, roots: TrustAnchors) -> StrictVerifier {
        Verifier::of(Strict {
            mode,
            roots,
            algs: ring_algorithms(),
            last: Arc::default(),
        })
    }
}

impl Strict {
    /// The mode this verifier enforces.
    pub fn mode(&self) -> &AuthMode {
        &self.mode
    }

    /// The slot holding this verifier's latest accepted verification.
    pub fn last_verified(&self) -> Arc<LastVerified> {
        self.last.clone()
    }

    fn verify_chain(
        &self,
        ee_der: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Verified, rustls::Error> {
        let ee = EndEntityCert::try_from(ee_der).map_err(pki_error)?;
        let (name, pins) = match &self.mode {
            AuthMode::Name(name) => (name, None),
            AuthMode::NameAndPins(name, pins) => (name, Some(pins.as_slice())),
            AuthMode::Pins(pins) => {
                return self.verify_pins_only(&ee, ee_der, intermediates, pins, now)
            }
        };
        // Each path webpki validates is offered here; refusing one makes webpki look for
        // another (through other intermediates or anchors) before it gives up.
        let anchor_refused = Cell::new(None);
        let pin_refused = Cell::new(false);
        let on_path = |path: &VerifiedPath<'_>| {
            if let Err(why) = self.roots.check(path.anchor(), now) {
                anchor_refused.set(Some(why));
                return Err(webpki::Error::UnknownIssuer);
            }
            if pins.is_some_and(|pins| !path_has_pin(path, pins)) {
                pin_refused.set(true);
                return Err(webpki::Error::UnknownIssuer);
            }
            Ok(())
        };
        let result = ee.verify_for_usage(
            self.algs.all,
            &self.roots.anchors,
            intermediates,
            now,
            KeyUsage::server_auth(),
            None,
            Some(&on_path),
        );
        let path = match result {
            Ok(path) => path,
            // A path that failed only our checks says more than webpki's last error.
            Err(e) => {
                return Err(match (anchor_refused.get(), pin_refused.get()) {
                    (Some(why), _) => other_error(why),
                    (None, true) => other_error(PinFailure::NotOnValidatedChain),
                    (None, false) => pki_error(e),
                })
            }
        };
        ee.verify_is_valid_for_subject_name(&ServerName::DnsName(name.clone()))
            .map_err(pki_error)?;
        let anchor_expiry = self.roots.not_after(path.anchor(), now);
        Ok(record_path(
            ee_der,
            &path,
            pins.unwrap_or_default(),
            anchor_expiry,
        ))
    }

    /// Pins only: accept when the end-entity key is pinned (it signed the handshake) and the
    /// certificate is within its validity period, or when a presented certificate with a
    /// pinned key, taken as the sole trust anchor, validates a path to the end-entity.
    ///
    /// The first of these that holds decides, as it would alone; after it, the remaining
    /// pinned certificates are still tried, only to list in the record every pinned key
    /// that authenticates this end entity (so a CA pin beside an end-entity pin is seen as
    /// a working backup). Their failures change nothing.
    fn verify_pins_only(
        &self,
        ee: &EndEntityCert<'_>,
        ee_der: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        pins: &[Pin],
        now: UnixTime,
    ) -> Result<Verified, rustls::Error> {
        let ee_expiry = not_after(ee_der);
        let mut record = Verified {
            end_entity: Sha256::digest(ee_der).into(),
            matched: Vec::new(),
            end_entity_expiry: ee_expiry,
            chain_expiry: ee_expiry,
        };
        let ee_pin = Pin::of_spki(&ee.subject_public_key_info());
        if pins.contains(&ee_pin) {
            check_validity(ee_der, now)?;
            record.matched.push((ee_pin, Position::EndEntity));
        }
        let mut last_error = None;
        for (i, cert) in intermediates.iter().enumerate() {
            let Ok(anchor) = webpki::anchor_from_trusted_cert(cert) else {
                continue;
            };
            let pin = Pin::of_spki(&webpki::spki_for_anchor(&anchor));
            if !pins.contains(&pin) {
                continue;
            }
            let accepted = !record.matched.is_empty();
            // webpki does not check a trust anchor's own dates; a pinned certificate that
            // is out of its validity period authenticates nothing.
            match check_validity(cert, now) {
                Ok(()) => {}
                Err(e) if !accepted => return Err(e),
                Err(_) => continue,
            }
            let others: Vec<CertificateDer<'_>> = intermediates
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, c)| c.clone())
                .collect();
            match ee.verify_for_usage(
                self.algs.all,
                &[anchor],
                &others,
                now,
                KeyUsage::server_auth(),
                None,
                None,
            ) {
                Ok(path) => {
                    if !accepted {
                        // The path that decided: its dates are the chain's.
                        let ends = path
                            .intermediate_certificates()
                            .map(|c| not_after(&c.der()))
                            .chain([ee_expiry, not_after(cert)]);
                        record.chain_expiry = earliest(ends);
                    }
                    record.matched.push((pin, self_issued_position(cert)));
                }
                Err(e) if !accepted => last_error = Some(e),
                Err(_) => {}
            }
        }
        if !record.matched.is_empty() {
            return Ok(record);
        }
        match last_error {
            // A pinned certificate was presented but does not sign down to the end entity;
            // an expired link is still reported as expiry.
            Some(
                e @ (webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }),
            ) => Err(pki_error(e)),
            _ => Err(other_error(PinFailure::NoPinnedKeyOnChain)),
        }
    }
}

/// Whether any certificate of a validated path (end entity, intermediates, anchor) has a
/// pinned SubjectPublicKeyInfo.
fn path_has_pin(path: &VerifiedPath<'_>, pins: &[Pin]) -> bool {
    !pins_on_path(path, pins).is_empty()
}

/// The pinned keys of a validated path with where each sits, end entity first.
fn pins_on_path(path: &VerifiedPath<'_>, pins: &[Pin]) -> Vec<(Pin, Position)> {
    let ee = Pin::of_spki(&path.end_entity().subject_public_key_info());
    let intermediates = path.intermediate_certificates().map(|c| {
        (
            Pin::of_spki(&c.subject_public_key_info()),
            Position::Intermediate,
        )
    });
    let anchor = Pin::of_spki(&webpki::spki_for_anchor(path.anchor()));
    [(ee, Position::EndEntity)]
        .into_iter()
        .chain(intermediates)
        .chain([(anchor, Position::Anchor)])
        .filter(|(pin, _)| pins.contains(pin))
        .collect()
}

/// The record of a path webpki validated (name, or name and pins).
/// `anchor_expiry` is the notAfter of the anchor the path ended at, if it is a dated one
/// (a CA certificate the operator gave; the compiled-in roots carry no date).
fn record_path(
    ee_der: &CertificateDer<'_>,
    path: &VerifiedPath<'_>,
    pins: &[Pin],
    anchor_expiry: Option<i64>,
) -> Verified {
    let ee_expiry = not_after(ee_der);
    let ends = path
        .intermediate_certificates()
        .map(|c| not_after(&c.der()))
        .chain([ee_expiry])
        .chain(anchor_expiry.map(Some));
    Verified {
        end_entity: Sha256::digest(ee_der).into(),
        matched: pins_on_path(path, pins),
        end_entity_expiry: ee_expiry,
        chain_expiry: earliest(ends),
    }
}

/// notAfter of a certificate, seconds since the epoch (`None` if x509-parser cannot read it).
fn not_after(der: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The earliest of some dates; `None` if any is unknown (an unknown date may be the earliest).
fn earliest(dates: impl IntoIterator<Item = Option<i64>>) -> Option<i64> {
    dates
        .into_iter()
        .try_fold(i64::MAX, |min, d| d.map(|d| min.min(d)))
        .filter(|&d| d != i64::MAX)
}

/// Where a presented certificate taken as the sole anchor (pins only) sits: a self-issued
/// CA (subject = issuer) is an anchor, any other an intermediate.
fn self_issued_position(der: &CertificateDer<'_>) -> Position {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, c)) if c.subject().as_raw() == c.issuer().as_raw() => Position::Anchor,
        _ => Position::Intermediate,
    }
}

/// Enforces notBefore/notAfter of a certificate accepted by its pinned key alone.
fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| bad())?;
    let now = i64::try_from(now.as_secs()).map_err(|_| bad())?;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// One of our own refusals ([`PinFailure`], [`AnchorFailure`]) as a rustls certificate error.
fn other_error<E: std::error::Error + Send + Sync + 'static>(failure: E) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(failure))))
}

/// Maps webpki's verdicts onto rustls' certificate errors (which also pick the TLS alert).
fn pki_error(e: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    let ce = match e {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding,
        E::CertExpired { .. } => CertificateError::Expired,
        E::CertNotValidYet { .. } => CertificateError::NotValidYet,
        E::CertNotValidForName(_) => CertificateError::NotValidForName,
        E::UnknownIssuer | E::CertDistrusted => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => CertificateError::BadSignature,
        E::UnsupportedCriticalExtension => CertificateError::UnhandledCriticalExtension,
        E::CertRevoked => CertificateError::Revoked,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(ce)
}

/// The signature algorithms of rustls' ring provider: for path building and handshakes.
fn ring_algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// How a [`Verifier`] judges the chain a server presents. Only the chain: the handshake
/// signatures are rustls' to check whatever the judge (pins-only must not skip them).
pub trait ChainJudge: fmt::Debug + Send + Sync {
    /// Accepts or refuses `end_entity` with `intermediates` at `now`.
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error>;
}

/// A rustls certificate verifier: `judge` decides about the chain, rustls (ring) checks the
/// TLS 1.2 and 1.3 handshake signatures against the end-entity key. The crate's only
/// [`ServerCertVerifier`]; [`StrictVerifier`] is the one that authenticates upstreams.
pub struct Verifier<J> {
    judge: J,
    algs: WebPkiSupportedAlgorithms,
}

impl<J: ChainJudge> Verifier<J> {
    /// A verifier deciding with `judge`.
    pub fn of(judge: J) -> Verifier<J> {
        Verifier {
            judge,
            algs: ring_algorithms(),
        }
    }
}

impl<J> std::ops::Deref for Verifier<J> {
    type Target = J;
    fn deref(&self) -> &J {
        &self.judge
    }
}

impl<J: fmt::Debug> fmt::Debug for Verifier<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.judge.fmt(f)
    }
}

impl ChainJudge for Strict {
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        // The name checked is the configured one, never what the caller passed: the caller
        // uses the same value, and this way no call path can substitute another.
        let verified = self.verify_chain(end_entity, intermediates, now)?;
        self.last.store(verified);
        Ok(())
    }
}

impl<J: ChainJudge> ServerCertVerifier for Verifier<J> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.judge.judge(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The class of an authentication failure, for metrics (`strictdot_auth_failures_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The certificate is not valid for the authentication name.
    Name,
    /// No pinned key on the chain.
    Pin,
    /// Expired or not yet valid.
    Expiry,
    /// TLS version or cipher suites not acceptable.
    Version,
    /// The chain does not lead to a trusted root.
    Untrusted,
    /// Anything else (bad signature, bad encoding, alerts...).
    Other,
}

impl FailureKind {
    /// Every kind, in label order.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Name,
        FailureKind::Pin,
        FailureKind::Expiry,
        FailureKind::Version,
        FailureKind::Untrusted,
        FailureKind::Other,
    ];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Name => "name",
            FailureKind::Pin => "pin",
            FailureKind::Expiry => "expiry",
            FailureKind::Version => "version",
            FailureKind::Untrusted => "untrusted",
            FailureKind::Other => "other",
        }
    }
}

/// Classifies an authentication or handshake failure.
pub fn failure_kind(e: &rustls::Error) -> FailureKind {
    use rustls::Error as R;
    match e {
        R::InvalidCertificate(ce) => match ce {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => FailureKind::Expiry,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                FailureKind::Name
            }
            CertificateError::UnknownIssuer => FailureKind::Untrusted,
            CertificateError::Other(OtherError(inner))
                if inner.downcast_ref::<PinFailure>().is_some() =>
            {
                FailureKind::Pin
            }
            CertificateError::Other(OtherError(inner))
                if inner.downcast_ref::<AnchorFailure>().is_some() =>
            {
                FailureKind::Expiry
            }
            _ => FailureKind::Other,
        },
        R::PeerIncompatible(_)
        | R::AlertReceived(rustls::AlertDescription::ProtocolVersion)
        | R::InvalidMessage(_)
        | R::InappropriateMessage { .. }
        | R::InappropriateHandshakeMessage { .. } => FailureKind::Version,
        _ => FailureKind::Other,
    }
}

/// A short, stable reason for an authentication or handshake failure, for logs and metrics.
pub fn failure_reason(e: &rustls::Error) -> &'static str {
    use rustls::Error as R;
    match e {
        R::InvalidCertificate(ce) => match ce {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not yet valid"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate not valid for the authentication name"
            }
            CertificateError::UnknownIssuer => "certificate chain does not lead to a trusted root",
            CertificateError::BadSignature => "bad certificate signature",
            CertificateError::Other(OtherError(inner)) => {
                if inner.downcast_ref::<PinFailure>().is_some() {
                    "SPKI pin mismatch"
                } else if let Some(e) = inner.downcast_ref::<AnchorFailure>() {
                    match e {
                        AnchorFailure::Expired => "CA certificate from --ca-file expired",
                        AnchorFailure::NotValidYet => "CA certificate from --ca-file not yet valid",
                    }
                } else if let Some(e) = inner.downcast_ref::<webpki::Error>() {
                    webpki_reason(e)
                } else {
                    "certificate rejected"
                }
            }
            _ => "certificate rejected",
        },
        R::PeerIncompatible(_) => "peer incompatible (TLS version or cipher suites)",
        R::AlertReceived(rustls::AlertDescription::ProtocolVersion) => {
            "peer refused the TLS version (TLS 1.2/1.3 only)"
        }
        R::AlertReceived(_) => "peer sent a TLS alert",
        R::InvalidMessage(_)
        | R::InappropriateMessage { .. }
        | R::InappropriateHandshakeMessage { .. } => {
            "peer sent an invalid TLS message (not TLS 1.2/1.3?)"
        }
        _ => "TLS handshake failed",
    }
}

/// Reasons for webpki verdicts that rustls has no variant of its own for.
fn webpki_reason(e: &webpki::Error) -> &'static str {
    match e {
        webpki::Error::CaUsedAsEndEntity => {
            "the server certificate is a CA certificate (basicConstraints CA:TRUE); \
             use a leaf certificate, or authenticate this upstream by pin only"
        }
        webpki::Error::EndEntityUsedAsCa => "an end-entity certificate is used as a CA",
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the server certificate lacks the serverAuth extended key usage"
        }
        webpki::Error::PathLenConstraintViolated => "chain too long for a path length constraint",
        webpki::Error::NameConstraintViolation => "a CA name constraint forbids this name",
        _ => "certificate rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate valid from `from` to `to` days from now.
    fn ca(cn: &str, from: i64, to: i64) -> CertificateDer<'static> {
        ca_with_key(&rcgen::KeyPair::generate().unwrap(), cn, from, to)
    }

    fn ca_with_key(key: &rcgen::KeyPair, cn: &str, from: i64, to: i64) -> CertificateDer<'static> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(from);
        p.not_after = now + time::Duration::days(to);
        p.self_signed(key).unwrap().der().clone()
    }

    fn anchor(der: &CertificateDer<'_>) -> TrustAnchor<'static> {
        webpki::anchor_from_trusted_cert(der).unwrap().to_owned()
    }

    fn now() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            time::OffsetDateTime::now_utc().unix_timestamp() as u64,
        ))
    }

    #[test]
    fn file_anchors_trusted_only_within_their_validity() {
        let valid = ca("Valid", -1, 30);
        let expired = ca("Expired", -30, -1);
        let future = ca("Future", 1, 30);
        let roots =
            TrustAnchors::new(&[], &[valid.clone(), expired.clone(), future.clone()]).unwrap();
        assert_eq!(roots.len(), 3);
        assert_eq!(roots.check(&anchor(&valid), now()), Ok(()));
        assert_eq!(
            roots.check(&anchor(&expired), now()),
            Err(AnchorFailure::Expired)
        );
        assert_eq!(
            roots.check(&anchor(&future), now()),
            Err(AnchorFailure::NotValidYet)
        );
    }

    #[test]
    fn builtin_anchors_and_renewed_copies_trusted() {
        // A compiled-in root carries no dates and is trusted as shipped, also when the
        // operator's file repeats it.
        let builtin = anchor(&ca("Builtin", -30, -1));
        let roots = TrustAnchors::new(std::slice::from_ref(&builtin), &[]).unwrap();
        assert_eq!(roots.check(&builtin, now()), Ok(()));
        // One CA subject and key given twice, expired and renewed: the renewal counts.
        let key = rcgen::KeyPair::generate().unwrap();
        let old = ca_with_key(&key, "Renewed", -30, -1);
        let new = ca_with_key(&key, "Renewed", -1, 30);
        let roots = TrustAnchors::new(&[], &[old.clone(), new]).unwrap();
        assert_eq!(roots.check(&anchor(&old), now()), Ok(()));
        let roots = TrustAnchors::new(&[], std::slice::from_ref(&old)).unwrap();
        assert_eq!(
            roots.check(&anchor(&old), now()),
            Err(AnchorFailure::Expired)
        );
    }

    #[test]
    fn anchor_failures_classed_as_expiry() {
        for failure in [AnchorFailure::Expired, AnchorFailure::NotValidYet] {
            let e = other_error(failure);
            assert_eq!(failure_kind(&e), FailureKind::Expiry);
            assert!(failure_reason(&e).contains("--ca-file"));
        }
        assert_eq!(
            failure_kind(&other_error(PinFailure::NotOnValidatedChain)),
            FailureKind::Pin
        );
    }
}
