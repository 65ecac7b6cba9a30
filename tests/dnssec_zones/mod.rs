//! Signed test zones made at test time with Debian's ldnsutils (ldns-keygen, ldns-signzone,
//! ldns-key2ds): a private root, a signed TLD `example.`, and children covering the
//! algorithms, NSEC and NSEC3 (and opt-out), wildcards, CNAME/DNAME across zones, insecure
//! delegations, deliberately broken variants and crafted zones for each work cap.
//!
//! [`build`] writes every zone file and the trust anchor files into a directory, so the
//! same zones can be served by the in-memory [`resolver::Resolver`] (tests/dnssec.rs) or by
//! a real server such as an Unbound auth-zone (tests/it), and [`cases`] lists the
//! questions with the verdict each must get. Include with
//! `#[path = "../dnssec_zones/mod.rs"] mod dnssec_zones;` (path relative to the includer).
//!
//! If the signers are missing, [`build`] fails naming the package: tests must not pass
//! silently without them.

// Each includer uses a different part of this module.
#![allow(dead_code)]

pub mod resolver;
pub mod wire;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

/// The ldnsutils programs the zones need.
pub const SIGNERS: [&str; 3] = ["ldns-keygen", "ldns-signzone", "ldns-key2ds"];

/// Fails, naming the package to install, unless every signer can be run.
pub fn require_signers() -> Result<(), String> {
    for tool in SIGNERS {
        if let Err(e) = Command::new(tool).arg("-v").output() {
            return Err(format!(
                "{tool} cannot be run ({e}): install Debian's ldnsutils (apt-get install ldnsutils)"
            ));
        }
    }
    Ok(())
}

/// One zone file written by [`build`].
#[derive(Clone, Debug)]
pub struct ZoneFile {
    /// Origin, presentation form with the final dot.
    pub origin: String,
    /// The zone file (signed, post-processed).
    pub file: PathBuf,
    /// Whether it carries DNSSEC records.
    pub signed: bool,
}

/// Everything [`build`] wrote.
#[derive(Clone, Debug)]
pub struct ZoneSet {
    /// The directory holding it all.
    pub dir: PathBuf,
    /// The time the signatures were made around (Unix seconds).
    pub now: u32,
    /// Every zone, root first.
    pub zones: Vec<ZoneFile>,
    /// Trust anchor file: the private root's KSK as a DS record.
    pub anchor_ds: PathBuf,
    /// Trust anchor file: the private root's KSK as a DNSKEY record.
    pub anchor_dnskey: PathBuf,
}

/// How a zone proves denials.
#[derive(Clone, Copy, Debug)]
pub enum Denial {
    /// NSEC.
    Nsec,
    /// NSEC3 with these parameters (empty salt).
    Nsec3 { iterations: u16, opt_out: bool },
}

/// What the validator must conclude about a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Secure,
    Insecure,
    /// Bogus, with this Extended DNS Error INFO-CODE (RFC 8914).
    Bogus(u16),
}

/// A question over the zones and its expected verdict (with default settings).
#[derive(Clone, Debug)]
pub struct Case {
    /// Short name of the case.
    pub label: &'static str,
    /// Query name, presentation form.
    pub qname: String,
    /// Query type.
    pub qtype: u16,
    /// Expected verdict.
    pub expect: Expect,
}

const A: u16 = 1;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const DS: u16 = 43;
const DNSKEY: u16 = 48;
const MX: u16 = 15;
const CNAME: u16 = 5;

/// The 40-label name under `heavy.example.` whose NSEC3 closest-encloser proof costs more
/// hashing than the default budget allows.
pub fn heavy_name() -> String {
    format!("{}heavy.example.", "a.".repeat(40))
}

/// The questions every implementation must answer the same way, with default settings.
#[rustfmt::skip] // one row per line: a table
pub fn cases() -> Vec<Case> {
    let c = |label, qname: &str, qtype, expect| Case {
        label,
        qname: qname.to_string(),
        qtype,
        expect,
    };
    use Expect::*;
    vec![
        c("root DNSKEY", ".", DNSKEY, Secure),
        c("root NXDOMAIN (NSEC)", "nosuchtld.", A, Secure),
        c("TLD positive", "www.example.", A, Secure),
        c("TLD NODATA (NSEC)", "www.example.", AAAA, Secure),
        c("TLD NXDOMAIN (NSEC)", "nosuch.example.", A, Secure),
        c("empty non-terminal NODATA (NSEC)", "ent.example.", A, Secure),
        c("wildcard (NSEC)", "anything.wild.example.", A, Secure),
        c("wildcard NODATA (NSEC)", "anything.wild.example.", MX, Secure),
        c("CNAME in zone", "alias.example.", A, Secure),
        c("CNAME into an NSEC3 zone", "cname.example.", A, Secure),
        c("DNAME into an NSEC3 zone", "www.dname.example.", A, Secure),
        c("CNAME synthesized from a DNAME", "www.dname.example.", CNAME, Secure),
        c("CNAME query at a CNAME", "alias.example.", CNAME, Secure),
        c("CNAME to a name that does not exist", "dangling.example.", A, Secure),
        c("wildcard CNAME to a name that does not exist", "x.wc.example.", A, Secure),
        c("DS of a signed child", "rsa.example.", DS, Secure),
        c("DS absent at an unsigned child", "unsigned.example.", DS, Secure),
        c("algorithm 8 (RSASHA256)", "www.rsa.example.", A, Secure),
        c("algorithm 10 (RSASHA512)", "www.rsa512.example.", A, Secure),
        c("algorithm 13 (ECDSAP256SHA256)", "www.example.", A, Secure),
        c("algorithm 14 (ECDSAP384SHA384), DS SHA-384", "www.p384.example.", A, Secure),
        c("algorithm 15 (ED25519)", "www.ed.example.", A, Secure),
        c("NSEC3 positive", "www.n3.example.", A, Secure),
        c("NSEC3 NXDOMAIN", "nosuch.n3.example.", A, Secure),
        c("NSEC3 NODATA", "www.n3.example.", TXT, Secure),
        c("NSEC3 empty non-terminal NODATA", "b.n3.example.", A, Secure),
        c("NSEC3 wildcard", "x.w.n3.example.", A, Secure),
        c("NSEC3 wildcard NODATA", "x.w.n3.example.", TXT, Secure),
        c("NSEC3 CNAME back to the TLD", "cname.n3.example.", A, Secure),
        c("NSEC3 opt-out zone, signed name", "www.optout.example.", A, Secure),
        c("NSEC3 opt-out unsigned delegation", "www.island.optout.example.", A, Insecure),
        c("unsigned child (insecure delegation)", "www.unsigned.example.", A, Insecure),
        c("unsigned child NXDOMAIN", "nosuch.unsigned.example.", A, Insecure),
        c("signed child without DS", "www.nods.example.", A, Insecure),
        c("unsupported algorithm 16 (ED448)", "www.ed448.example.", A, Insecure),
        c("SHA-1 algorithm 5 treated as unsupported", "www.sha1.example.", A, Insecure),
        c("NSEC3 iterations above 100 (200)", "nosuch.iter.example.", A, Insecure),
        c("NSEC3 iterations above 100 (200), positive", "www.iter.example.", A, Secure),
        c("expired signatures", "www.expired.example.", A, Bogus(7)),
        c("signatures not yet valid", "www.future.example.", A, Bogus(8)),
        c("DS matching no DNSKEY", "www.badds.example.", A, Bogus(9)),
        c("DS digest wrong", "www.baddigest.example.", A, Bogus(9)),
        c("DS stripped from the parent", "www.dsgone.example.", A, Bogus(6)),
        c("tampered record", "www.tampered.example.", A, Bogus(6)),
        c("missing RRSIG", "www.nosig.example.", A, Bogus(10)),
        c("NSEC records stripped from the zone, NXDOMAIN", "nosuch.nonsec.example.", A, Bogus(12)),
        c("NSEC records stripped from the zone, positive", "www.nonsec.example.", A, Secure),
        c("NSEC3 100 iterations, short name", "nosuch.heavy.example.", A, Secure),
        c("NSEC3 hashing over budget", &heavy_name(), A, Bogus(6)),
        c("KeyTrap: keys sharing a tag", "www.keytrap.example.", A, Bogus(6)),
        c("KeyTrap: signatures per RRset", "www.sigs.example.", A, Bogus(6)),
        c("KeyTrap: total signature budget", "c1.chain.example.", A, Bogus(6)),
    ]
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            format!("{program}: {e}: install Debian's ldnsutils (apt-get install ldnsutils)")
        })?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How one zone is signed.
#[derive(Clone, Copy)]
struct Sign {
    alg: &'static str,
    /// Separate KSK and ZSK (else one key signs everything).
    split: bool,
    denial: Denial,
    inception: u32,
    expiration: u32,
    /// DS digest type for the parent (2 or 4).
    digest: u8,
}

/// A signed zone before it is written: its lines, and the DS lines for its parent.
struct Signed {
    lines: Vec<String>,
    ds: Vec<String>,
}

fn host(origin: &str) -> String {
    if origin == "." {
        "ns.".into()
    } else {
        format!("ns.{origin}")
    }
}

/// SOA, NS and glue of a zone.
fn head(origin: &str) -> String {
    let ns = host(origin);
    format!(
        "$TTL 3600\n{origin} IN SOA {ns} hostmaster.{ns} 1 3600 900 604800 300\n{origin} IN NS {ns}\n{ns} IN A 192.0.2.53\n"
    )
}

/// NS and glue for a child, plus its DS lines.
fn delegation(child: &str, ds: &[String]) -> String {
    let ns = host(child);
    let mut out = format!("{child} IN NS {ns}\n{ns} IN A 192.0.2.53\n");
    for d in ds {
        out.push_str(d);
        out.push('\n');
    }
    out
}

fn file_stem(origin: &str) -> String {
    if origin == "." {
        "root".into()
    } else {
        origin.trim_end_matches('.').replace('.', "_")
    }
}

struct Builder {
    dir: PathBuf,
    now: u32,
    zones: Vec<ZoneFile>,
}

impl Builder {
    fn keygen(&self, alg: &str, ksk: bool, origin: &str) -> Result<String, String> {
        let mut args = vec!["-a", alg];
        if alg.starts_with("RSA") {
            args.extend(["-b", "1024"]);
        }
        if ksk {
            args.push("-k");
        }
        args.push(origin);
        Ok(run(&self.dir, "ldns-keygen", &args)?.trim().to_string())
    }

    fn ds(&self, key: &str, digest: u8) -> Result<Vec<String>, String> {
        let flag = format!("-{digest}");
        let out = run(
            &self.dir,
            "ldns-key2ds",
            &["-n", &flag, &format!("{key}.key")],
        )?;
        Ok(out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The DNSKEY line of a key file, comment removed.
    fn key_line(&self, key: &str) -> Result<String, String> {
        let text = std::fs::read_to_string(self.dir.join(format!("{key}.key")))
            .map_err(|e| e.to_string())?;
        Ok(text
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    /// Signs `origin` holding `body` (absolute names); `prepare` may add records once the
    /// keys exist (it gets the ZSK's base name).
    fn sign(
        &self,
        origin: &str,
        body: &str,
        s: Sign,
        prepare: impl Fn(&Self, &str) -> Result<String, String>,
    ) -> Result<Signed, String> {
        let ksk = self.keygen(s.alg, true, origin)?;
        let mut keys = vec![ksk.clone()];
        let zsk = if s.split {
            let zsk = self.keygen(s.alg, false, origin)?;
            keys.push(zsk.clone());
            zsk
        } else {
            ksk.clone()
        };
        let extra = prepare(self, &zsk)?;
        let stem = file_stem(origin);
        let input = self.dir.join(format!("{stem}.in"));
        std::fs::write(&input, format!("{}{body}{extra}", head(origin)))
            .map_err(|e| e.to_string())?;
        let out = format!("{stem}.signed");
        let (inc, exp) = (s.inception.to_string(), s.expiration.to_string());
        let mut args: Vec<String> = vec![
            "-f".into(),
            out.clone(),
            "-i".into(),
            inc,
            "-e".into(),
            exp,
            "-o".into(),
            origin.into(),
        ];
        if let Denial::Nsec3 {
            iterations,
            opt_out,
        } = s.denial
        {
            args.extend(["-n".into(), "-t".into(), iterations.to_string()]);
            if opt_out {
                args.push("-p".into());
            }
        }
        args.push(format!("{stem}.in"));
        args.extend(keys);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&self.dir, "ldns-signzone", &args)?;
        let text = std::fs::read_to_string(self.dir.join(&out)).map_err(|e| e.to_string())?;
        Ok(Signed {
            lines: text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.split(';')
                        .next()
                        .unwrap_or_default()
                        .trim_end()
                        .to_string()
                })
                .collect(),
            ds: self.ds(&ksk, s.digest)?,
        })
    }

    fn write(&mut self, origin: &str, lines: &[String], signed: bool) -> Result<(), String> {
        let file = self.dir.join(format!("{}.zone", file_stem(origin)));
        std::fs::write(&file, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
        self.zones.push(ZoneFile {
            origin: origin.to_string(),
            file,
            signed,
        });
        Ok(())
    }

    fn normal(&self, alg: &'static str, denial: Denial) -> Sign {
        Sign {
            alg,
            split: false,
            denial,
            inception: self.now - 3600,
            expiration: self.now + 30 * 86_400,
            digest: 2,
        }
    }
}

fn no_extra(_: &Builder, _: &str) -> Result<String, String> {
    Ok(String::new())
}

/// Fields of a zone line (ldns writes tabs between owner, TTL, class, type and RDATA).
fn fields(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn is(line: &str, owner: &str, rtype: &str) -> bool {
    let f = fields(line);
    f.first() == Some(&owner) && f.get(3) == Some(&rtype)
}

fn is_sig_over(line: &str, owner: &str, covered: &str) -> bool {
    is(line, owner, "RRSIG") && fields(line).get(4) == Some(&covered)
}

/// `count` copies of an RRSIG line with the signature changed, each differently.
fn garbage_sigs(line: &str, count: u8) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let f = fields(line);
    let head = f[..f.len() - 1].join(" ");
    let sig = engine.decode(f[f.len() - 1]).expect("base64 signature");
    (0..count)
        .map(|i| {
            let mut bad = sig.clone();
            bad[0] ^= i + 1;
            bad[1] ^= 0x5a;
            format!("{head} {}", engine.encode(&bad))
        })
        .collect()
}

/// Key tag of DNSKEY RDATA (RFC 4034 Appendix B).
fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        acc += if i % 2 == 0 {
            u32::from(b) << 8
        } else {
            u32::from(b)
        };
    }
    acc += (acc >> 16) & 0xFFFF;
    (acc & 0xFFFF) as u16
}

/// DNSKEY lines with the ZSK's flags, algorithm 13 and key tag but garbage keys that sort
/// before it (their first key octets are zero), so a validator meets them first.
fn colliding_keys(builder: &Builder, zsk: &str) -> Result<String, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let line = builder.key_line(zsk)?;
    let f = fields(&line);
    let owner = f[0];
    let real = engine.decode(f[6]).map_err(|e| e.to_string())?;
    if real[0] == 0 {
        return Err("ZSK starts with a zero octet; run again".into());
    }
    let mut header = vec![1, 0, 3, 13];
    let target = {
        header.extend(&real);
        let t = key_tag(&header);
        header.truncate(4);
        t
    };
    // The real ZSK goes in too: ldns-signzone adds a key from its file only if no key
    // with its tag is in the zone already.
    let mut out = format!("{line}\n");
    for i in 1..=8u8 {
        let mut key = vec![0u8; 64];
        key[2] = i;
        let found = (0..=u16::MAX).find_map(|v| {
            key[62..].copy_from_slice(&v.to_be_bytes());
            let mut rdata = header.clone();
            rdata.extend(&key);
            (key_tag(&rdata) == target).then(|| key.clone())
        });
        let key = found.ok_or("no colliding key")?;
        out.push_str(&format!(
            "{owner} IN DNSKEY 256 3 13 {}\n",
            engine.encode(key)
        ));
    }
    Ok(out)
}

/// Writes every zone and the trust anchor files into `dir`, signatures valid from an hour
/// before `now` to 30 days after (the broken variants aside).
pub fn build(dir: &Path, now: u32) -> Result<ZoneSet, String> {
    require_signers()?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut b = Builder {
        dir: dir.to_path_buf(),
        now,
        zones: Vec::new(),
    };
    let nsec = Denial::Nsec;
    let nsec3 = Denial::Nsec3 {
        iterations: 0,
        opt_out: false,
    };
    let www = |origin: &str| format!("www.{origin} IN A 192.0.2.80\n");
    // (child, DS lines for example.)
    let mut children: Vec<(String, Vec<String>)> = Vec::new();

    // Plain signed children, one per algorithm.
    for (origin, alg, digest) in [
        ("rsa.example.", "RSASHA256", 2),
        ("rsa512.example.", "RSASHA512", 2),
        ("p384.example.", "ECDSAP384SHA384", 4),
        ("ed.example.", "ED25519", 2),
        ("ed448.example.", "ED448", 2),
        ("sha1.example.", "RSASHA1", 2),
        ("nods.example.", "ECDSAP256SHA256", 2),
        ("dsgone.example.", "ECDSAP256SHA256", 2),
    ] {
        let s = Sign {
            digest,
            ..b.normal(alg, nsec)
        };
        let signed = b.sign(origin, &www(origin), s, no_extra)?;
        b.write(origin, &signed.lines, true)?;
        let ds = if origin == "nods.example." {
            Vec::new()
        } else {
            signed.ds
        };
        children.push((origin.into(), ds));
    }

    // NSEC3 with a wildcard, an empty non-terminal, a CNAME back to the TLD.
    let origin = "n3.example.";
    let body = "www.n3.example. IN A 192.0.2.80\n*.w.n3.example. IN A 192.0.2.81\n\
                a.b.n3.example. IN TXT \"deep\"\ncname.n3.example. IN CNAME www.example.\n";
    let s = Sign {
        split: true,
        ..b.normal("ED25519", nsec3)
    };
    let signed = b.sign(origin, body, s, no_extra)?;
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // NSEC3 opt-out, and an unsigned delegation added after signing (so no NSEC3 names it).
    let origin = "optout.example.";
    let s = b.normal(
        "ECDSAP256SHA256",
        Denial::Nsec3 {
            iterations: 0,
            opt_out: true,
        },
    );
    let mut signed = b.sign(origin, &www(origin), s, no_extra)?;
    signed
        .lines
        .push("island.optout.example.\t3600\tIN\tNS\tns.island.optout.example.".into());
    signed
        .lines
        .push("ns.island.optout.example.\t3600\tIN\tA\t192.0.2.53".into());
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));
    let island = "island.optout.example.";
    let text = format!("{}{}", head(island), www(island));
    let lines = unsigned_lines(&text);
    b.write(island, &lines, false)?;

    // An unsigned child.
    let origin = "unsigned.example.";
    let lines = unsigned_lines(&format!("{}{}", head(origin), www(origin)));
    b.write(origin, &lines, false)?;
    children.push((origin.into(), Vec::new()));

    // NSEC3 iterations: above the cap (insecure) and at it (costly but allowed).
    // 200 is above both strictdot's cap (100, RFC 9276) and Unbound's default (150), so
    // an interop comparison agrees.
    for (origin, iterations) in [("iter.example.", 200), ("heavy.example.", 100)] {
        let s = b.normal(
            "ECDSAP256SHA256",
            Denial::Nsec3 {
                iterations,
                opt_out: false,
            },
        );
        let signed = b.sign(origin, &www(origin), s, no_extra)?;
        b.write(origin, &signed.lines, true)?;
        children.push((origin.into(), signed.ds));
    }

    // Signature windows in the past and in the future.
    for (origin, inception, expiration) in [
        ("expired.example.", now - 60 * 86_400, now - 30 * 86_400),
        ("future.example.", now + 30 * 86_400, now + 60 * 86_400),
    ] {
        let s = Sign {
            inception,
            expiration,
            ..b.normal("ECDSAP256SHA256", nsec)
        };
        let signed = b.sign(origin, &www(origin), s, no_extra)?;
        b.write(origin, &signed.lines, true)?;
        children.push((origin.into(), signed.ds));
    }

    // A DS with the right key tag and algorithm but a wrong digest.
    let origin = "baddigest.example.";
    let signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    b.write(origin, &signed.lines, true)?;
    let flipped = signed
        .ds
        .iter()
        .map(|l| {
            let last = if l.ends_with('0') { '1' } else { '0' };
            format!("{}{last}", &l[..l.len() - 1])
        })
        .collect();
    children.push((origin.into(), flipped));

    // A DS that matches no key: the DS of another key of the same algorithm.
    let origin = "badds.example.";
    let signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    b.write(origin, &signed.lines, true)?;
    let stray = b.keygen("ECDSAP256SHA256", true, origin)?;
    children.push((origin.into(), b.ds(&stray, 2)?));

    // A record changed after signing.
    let origin = "tampered.example.";
    let mut signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    for line in &mut signed.lines {
        if is(line, "www.tampered.example.", "A") {
            *line = line.replace("192.0.2.80", "192.0.2.66");
        }
    }
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // An RRSIG removed.
    let origin = "nosig.example.";
    let mut signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    signed
        .lines
        .retain(|l| !is_sig_over(l, "www.nosig.example.", "A"));
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // Every NSEC (and its RRSIG) removed.
    let origin = "nonsec.example.";
    let mut signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    signed
        .lines
        .retain(|l| fields(l).get(3) != Some(&"NSEC") && fields(l).get(4) != Some(&"NSEC"));
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // KeyTrap: eight garbage DNSKEYs sharing the ZSK's tag, sorted before it.
    let origin = "keytrap.example.";
    let s = Sign {
        split: true,
        ..b.normal("ECDSAP256SHA256", nsec)
    };
    let signed = b.sign(origin, &www(origin), s, colliding_keys)?;
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // KeyTrap: ten garbage RRSIGs before the good one.
    let origin = "sigs.example.";
    let mut signed = b.sign(
        origin,
        &www(origin),
        b.normal("ECDSAP256SHA256", nsec),
        no_extra,
    )?;
    signed.lines = with_garbage(
        &signed.lines,
        |l| is_sig_over(l, "www.sigs.example.", "A"),
        10,
    );
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // KeyTrap: a CNAME chain of ten, six garbage RRSIGs before each good one: under the
    // per-RRset cap, over the per-validation budget.
    let origin = "chain.example.";
    let mut body = String::new();
    for i in 1..10 {
        body.push_str(&format!(
            "c{i}.chain.example. IN CNAME c{}.chain.example.\n",
            i + 1
        ));
    }
    body.push_str("c10.chain.example. IN CNAME www.chain.example.\n");
    body.push_str(&www(origin));
    let mut signed = b.sign(origin, &body, b.normal("ECDSAP256SHA256", nsec), no_extra)?;
    signed.lines = with_garbage(
        &signed.lines,
        |l| {
            let f = fields(l);
            f.get(3) == Some(&"RRSIG")
                && (f.get(4) == Some(&"CNAME")
                    || (f.get(4) == Some(&"A") && f[0].starts_with("www.")))
        },
        6,
    );
    b.write(origin, &signed.lines, true)?;
    children.push((origin.into(), signed.ds));

    // The TLD.
    let origin = "example.";
    let mut body = String::from(
        "www.example. IN A 192.0.2.1\n\
         *.wild.example. IN A 192.0.2.2\n\
         deep.ent.example. IN TXT \"below an empty non-terminal\"\n\
         alias.example. IN CNAME www.example.\n\
         cname.example. IN CNAME www.n3.example.\n\
         dname.example. IN DNAME n3.example.\n\
         dangling.example. IN CNAME nosuch.n3.example.\n\
         *.wc.example. IN CNAME nosuch.n3.example.\n",
    );
    for (child, ds) in &children {
        body.push_str(&delegation(child, ds));
    }
    let s = Sign {
        split: true,
        ..b.normal("ECDSAP256SHA256", nsec)
    };
    let mut signed = b.sign(origin, &body, s, no_extra)?;
    // The DS of dsgone.example. removed after signing: its NSEC still lists DS.
    signed
        .lines
        .retain(|l| !is(l, "dsgone.example.", "DS") && !is_sig_over(l, "dsgone.example.", "DS"));
    b.write(origin, &signed.lines, true)?;

    // The root, signed with RSASHA256, KSK and ZSK.
    let origin = ".";
    let body = delegation("example.", &signed.ds);
    let s = Sign {
        split: true,
        ..b.normal("RSASHA256", nsec)
    };
    let root = b.sign(origin, &body, s, no_extra)?;
    b.write(origin, &root.lines, true)?;

    // Trust anchors: the root KSK as DS and as DNSKEY.
    let anchor_ds = dir.join("anchor-ds.txt");
    std::fs::write(&anchor_ds, root.ds.join("\n") + "\n").map_err(|e| e.to_string())?;
    let ksk_lines: Vec<&String> = root
        .lines
        .iter()
        .filter(|l| is(l, ".", "DNSKEY") && fields(l).get(4) == Some(&"257"))
        .collect();
    let anchor_dnskey = dir.join("anchor-dnskey.txt");
    let dnskey_text: String = ksk_lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&anchor_dnskey, dnskey_text).map_err(|e| e.to_string())?;

    // Root first, then parents before children.
    b.zones.reverse();
    Ok(ZoneSet {
        dir: dir.to_path_buf(),
        now,
        zones: b.zones,
        anchor_ds,
        anchor_dnskey,
    })
}

/// An unsigned zone's text as lines with absolute owners and explicit TTL and class, the
/// form the in-memory resolver reads.
fn unsigned_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('$') && !l.trim().is_empty())
        .map(|l| {
            let f = fields(l);
            format!("{}\t3600\tIN\t{}", f[0], f[2..].join(" "))
        })
        .collect()
}

/// Inserts `count` garbage copies before every line `target` picks.
fn with_garbage(lines: &[String], target: impl Fn(&str) -> bool, count: u8) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        if target(l) {
            out.extend(garbage_sigs(l, count));
        }
        out.push(l.clone());
    }
    out
}
