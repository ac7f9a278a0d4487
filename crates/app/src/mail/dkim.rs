//! DKIM signing of outgoing mail (RFC 6376, with Ed25519 from RFC 8463): the private key is
//! read once when the sender starts, from a PEM file (`BEGIN PRIVATE KEY`, PKCS#8, Ed25519 or
//! RSA, as `openssl genpkey` writes it; or `BEGIN RSA PRIVATE KEY`, PKCS#1), and every message
//! is signed just before it is sent. The key itself never appears in an error or a log line.

use crate::config::DkimSettings;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// The headers covered by the signature. Only headers that lettre keeps at the top of the
/// message may be listed: the top-level `Content-Type` of a multipart body lives with the body
/// in lettre, so the signer would not see it while a verifier would.
const SIGNED_HEADERS: [&str; 6] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
];

/// RFC 8301: signers must use RSA keys of at least 1024 bits; the `rsa` crate refuses keys
/// larger than 4096 bits.
const RSA_MIN_BITS: usize = 1024;
const RSA_MAX_BITS: usize = 4096;

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot read DKIM key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("DKIM key file {path}: {reason}")]
    Key { path: String, reason: String },
    #[error(
        "invalid DKIM selector {0:?}: expected dot-separated labels of letters, digits, '-' or '_'"
    )]
    Selector(String),
    #[error("invalid DKIM domain {0:?}: expected a domain name such as mail.example.com")]
    Domain(String),
}

/// Signs messages with one key, selector and domain.
pub struct DkimSigner {
    config: DkimConfig,
    algorithm: DkimSigningAlgorithm,
    selector: String,
    domain: String,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("algorithm", &self.algorithm)
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Read and check the key of `settings`; `default_domain` (the domain of `mail_from`) is
    /// the signing domain unless the settings name one.
    pub fn load(settings: &DkimSettings, default_domain: &str) -> Result<Self, DkimError> {
        let path = settings.key_file.display().to_string();
        let pem = std::fs::read(&settings.key_file).map_err(|source| DkimError::Read {
            path: path.clone(),
            source,
        })?;
        let (key, algorithm) =
            signing_key_from_pem(&pem).map_err(|reason| DkimError::Key { path, reason })?;
        let domain = settings
            .domain
            .as_deref()
            .unwrap_or(default_domain)
            .trim()
            .to_owned();
        Self::new(key, algorithm, settings.selector.trim().to_owned(), domain)
    }

    fn new(
        key: DkimSigningKey,
        algorithm: DkimSigningAlgorithm,
        selector: String,
        domain: String,
    ) -> Result<Self, DkimError> {
        if !is_dns_name(&selector) {
            return Err(DkimError::Selector(selector));
        }
        if !is_dns_name(&domain) || !domain.contains('.') {
            return Err(DkimError::Domain(domain));
        }
        let config = DkimConfig::new(
            selector.clone(),
            domain.clone(),
            key,
            SIGNED_HEADERS
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h))
                .collect(),
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Self {
            config,
            algorithm,
            selector,
            domain,
        })
    }

    /// Add a `DKIM-Signature` header to `message`; call it last, once every header is set.
    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }

    /// `ed25519` or `rsa`.
    pub fn algorithm(&self) -> String {
        self.algorithm.to_string()
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// Letters, digits, `-` and `_` in non-empty dot-separated labels (no trailing dot).
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Turn a PEM private key into the form lettre takes: for Ed25519 the base64 of the 32-byte
/// seed, for RSA a PKCS#1 PEM. Errors say what is wrong without quoting the key.
fn signing_key_from_pem(pem: &[u8]) -> Result<(DkimSigningKey, DkimSigningAlgorithm), String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file (not text)".to_owned())?;
    let (label, der) = pem_private_key_block(text)?;
    match label {
        "PRIVATE KEY" => {
            let (oid, private_key) = parse_pkcs8(&der)
                .ok_or("malformed PKCS#8 private key (BEGIN PRIVATE KEY)".to_owned())?;
            match oid {
                OID_ED25519 => {
                    let seed = Der(private_key)
                        .read(TAG_OCTET_STRING)
                        .filter(|s| s.len() == 32)
                        .ok_or("malformed Ed25519 private key".to_owned())?;
                    let key =
                        DkimSigningKey::new(&STANDARD.encode(seed), DkimSigningAlgorithm::Ed25519)
                            .map_err(|e| format!("invalid Ed25519 private key ({e})"))?;
                    Ok((key, DkimSigningAlgorithm::Ed25519))
                }
                OID_RSA => rsa_key(private_key),
                OID_ED448 => Err("Ed448 keys cannot sign DKIM; use Ed25519 or RSA".to_owned()),
                OID_EC => Err("EC (ECDSA) keys cannot sign DKIM; use Ed25519 or RSA".to_owned()),
                _ => Err("unsupported private key algorithm; use Ed25519 or RSA".to_owned()),
            }
        }
        "RSA PRIVATE KEY" => rsa_key(&der),
        "ENCRYPTED PRIVATE KEY" => Err(
            "the private key is encrypted; store it unencrypted (openssl pkey -in KEY -out PLAIN)"
                .to_owned(),
        ),
        other => Err(format!(
            "unsupported PEM block \"BEGIN {other}\"; expected BEGIN PRIVATE KEY (Ed25519 or RSA) \
             or BEGIN RSA PRIVATE KEY"
        )),
    }
}

/// An RSA key from its PKCS#1 `RSAPrivateKey` DER.
fn rsa_key(pkcs1: &[u8]) -> Result<(DkimSigningKey, DkimSigningAlgorithm), String> {
    let bits = rsa_modulus_bits(pkcs1).ok_or("malformed RSA private key".to_owned())?;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(format!(
            "RSA key of {bits} bits; DKIM needs {RSA_MIN_BITS} to {RSA_MAX_BITS} bits (2048 advised)"
        ));
    }
    let mut pem = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
    let b64 = STANDARD.encode(pkcs1);
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END RSA PRIVATE KEY-----\n");
    let key = DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
        .map_err(|e| format!("invalid RSA private key ({e})"))?;
    Ok((key, DkimSigningAlgorithm::Rsa))
}

/// The label and decoded content of the first `BEGIN … PRIVATE KEY` block.
fn pem_private_key_block(text: &str) -> Result<(&str, Vec<u8>), String> {
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(end_label) = after.find("-----") else {
            break;
        };
        let label = &after[..end_label];
        let body = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body.find(&end_marker) else {
            return Err(format!("PEM block \"BEGIN {label}\" has no END line"));
        };
        if label.ends_with("PRIVATE KEY") {
            let body = &body[..end];
            if body.contains(':') {
                return Err(
                    "the private key is encrypted; store it unencrypted (openssl pkey -in KEY -out PLAIN)"
                        .to_owned(),
                );
            }
            let b64: String = body.split_ascii_whitespace().collect();
            let der = STANDARD
                .decode(b64)
                .map_err(|_| format!("PEM block \"BEGIN {label}\" is not valid base64"))?;
            return Ok((label, der));
        }
        rest = &body[end + end_marker.len()..];
    }
    Err("no PEM private key found (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)".to_owned())
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208, RFC 5958): the algorithm OID and the
/// content of the `privateKey` OCTET STRING.
fn parse_pkcs8(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut seq = Der(Der(der).read(TAG_SEQUENCE)?);
    let version = seq.read(TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    let oid = Der(seq.read(TAG_SEQUENCE)?).read(TAG_OID)?;
    let private_key = seq.read(TAG_OCTET_STRING)?;
    Some((oid, private_key))
}

/// The size of the modulus of a PKCS#1 `RSAPrivateKey`.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let mut seq = Der(Der(der).read(TAG_SEQUENCE)?);
    seq.read(TAG_INTEGER)?;
    let modulus = seq.read(TAG_INTEGER)?;
    let first = modulus.iter().position(|&b| b != 0)?;
    let leading = usize::try_from(modulus[first].leading_zeros()).ok()?;
    Some((modulus.len() - first) * 8 - leading)
}

/// A minimal DER reader: enough for the few fields above.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The content of the next element, which must carry `tag`.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.0.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Some(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::message::{Mailbox, MultiPart};
    use std::io::Write;

    /// `openssl genpkey -algorithm ed25519` (test key, signs nothing real).
    const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGKCL6WdAlC2iUJFii5IrnYGCJ64slP3tSF2xpQLfJ/Y
-----END PRIVATE KEY-----
";

    /// `openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024` (test key).
    const RSA_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBANkp24lIJcnZFiGA
p1p3k8EhjiQcpzLQaGl8RNOJ9r/KDO+N4xfxzwnJ6NbRzxiFF/mDJ31MiqWk7QUD
ej2jOIviKA5JocFSNKNIQaZ50vKR94LmWIQsGjCO9yLNVHK9RxJ9Ne5N7F4Q5/GJ
OcflMfn/OhMKnxE1UPfDKqvZklCPAgMBAAECgYBCfnmVQH0poAoRuhYEMmcQlNi0
H/3mJkBCRGXCrBTcxt5NH5Hwi/8MDUH5PQb/iAk+QjV+PUiazbQxe84bP3YZdkxG
YQ8nW76YIGV/A3KPstf27C7hiJqeYqDzyjfDGTCX5psCzVMWFXiZGMWzf0aB/80D
Gk5Jn4Ibs7ZfM0yBGQJBAPjrVkJJS7Dtvrshz8kuZHuk/O+JIsO/oGAhutFeC2l0
Xs5sv/nc2FdjWfequP5r/zvl/AEp3t2m64T0IXV8VoMCQQDfV0VWLbrnOcEjIQub
nIqme9WUjl+DbDgq3J8X611Ti9wR2N4BHUT8ui2W2wy+62spzrOGt2Uec4vOIHV5
JuAFAkEAwI/2RANFrdLN6SBICT99dnV1Qq0ZGsuEerm9NziEpYjjytcwUFA7gKcY
M1N8Fz5ezeyl3hSRF3GI42qk86lDlwJAfNxOcDqKtkCMoHYWBj5DKYYrxqy96zxy
PkwvSXEVMOMM+pFStC7H5b60RBVcj9QPikT8CwG2r4qLi4aMBlpcfQJAEb9GRB7o
X1sjCn5/4ziSf1AD0Phm+CWAXuA+Wfv7+JnFYlOEkFu+RcCKC/noLDaAJ5/0Hh0B
ft4DQGD5aYGmDA==
-----END PRIVATE KEY-----
";

    /// The same key, `openssl rsa -traditional` (PKCS#1).
    const RSA_PKCS1_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDZKduJSCXJ2RYhgKdad5PBIY4kHKcy0GhpfETTifa/ygzvjeMX
8c8JyejW0c8YhRf5gyd9TIqlpO0FA3o9oziL4igOSaHBUjSjSEGmedLykfeC5liE
LBowjvcizVRyvUcSfTXuTexeEOfxiTnH5TH5/zoTCp8RNVD3wyqr2ZJQjwIDAQAB
AoGAQn55lUB9KaAKEboWBDJnEJTYtB/95iZAQkRlwqwU3MbeTR+R8Iv/DA1B+T0G
/4gJPkI1fj1Ims20MXvOGz92GXZMRmEPJ1u+mCBlfwNyj7LX9uwu4YianmKg88o3
wxkwl+abAs1TFhV4mRjFs39Ggf/NAxpOSZ+CG7O2XzNMgRkCQQD461ZCSUuw7b67
Ic/JLmR7pPzviSLDv6BgIbrRXgtpdF7ObL/53NhXY1n3qrj+a/875fwBKd7dpuuE
9CF1fFaDAkEA31dFVi265znBIyELm5yKpnvVlI5fg2w4KtyfF+tdU4vcEdjeAR1E
/LotltsMvutrKc6zhrdlHnOLziB1eSbgBQJBAMCP9kQDRa3SzekgSAk/fXZ1dUKt
GRrLhHq5vTc4hKWI48rXMFBQO4CnGDNTfBc+Xs3spd4UkRdxiONqpPOpQ5cCQHzc
TnA6irZAjKB2FgY+QymGK8asves8cj5ML0lxFTDjDPqRUrQux+W+tEQVXI/UD4pE
/AsBtq+Ki4uGjAZaXH0CQBG/RkQe6F9bIwp+f+M4kn9QA9D4ZvglgF7gPln7+/iZ
xWJThJBbvkXAigv56Cw2gCef9B4dAX7eA0Bg+WmBpgw=
-----END RSA PRIVATE KEY-----
";

    /// `openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:512`: too small for DKIM.
    const RSA_512_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAqKGw2ZgprKkMJUFm
3BpqVif2K1ak9OsQ4dWUPXhFjwkZbAlDbRsYgNo/36hy2j/gtr50VBDaQ33L/C/H
68VnNwIDAQABAkEAgeYsCTJByBNgm8JJrftbNosKAlB4OYJqOsz/qGphitBDfWUu
GzCC78IJ50/ah+X/jY9ZYaMRKe3hXXODoNtd4QIhANCSq+a6lZOW59e9Onvaq4j5
S66NwZnRx04U2EVAN9qTAiEAzvn6N9cPNtIHDA9lAqmnvJe0vYjT2iDd96ZJprZZ
U00CIQCXXFlzr6Qs3y6Q2bo/d4lUddX+btE4l4xTlbz9RIVEEQIgFq3DYgz5iMs4
pHSnX8RRMdP5pO7yL6t8Rt98oHzIit0CIQDQkkXPQBbqeQpqgEmaQG1mmAADEJGz
yMPmwCz+h9Da3g==
-----END PRIVATE KEY-----
";

    /// `openssl genpkey -algorithm ed448`.
    const ED448_PEM: &str = "-----BEGIN PRIVATE KEY-----
MEcCAQAwBQYDK2VxBDsEOc+l1YFqtkV0IlfkB4zZEketa0BS3ZpIRpVs7iKXkui7
ExWqewOsZL2pvFUbnHh3919i47WOcZ5Wrg==
-----END PRIVATE KEY-----
";

    struct KeyFile(std::path::PathBuf);

    impl KeyFile {
        fn new(contents: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("guichet-dkim-{}.pem", uuid::Uuid::new_v4()));
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(contents.as_bytes()).unwrap();
            Self(path)
        }

        fn settings(&self, domain: Option<&str>) -> DkimSettings {
            DkimSettings {
                key_file: self.0.clone(),
                selector: "guichet".into(),
                domain: domain.map(str::to_owned),
            }
        }
    }

    impl Drop for KeyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn message() -> Message {
        Message::builder()
            .from(
                "Guichet <no-reply@mail.example.test>"
                    .parse::<Mailbox>()
                    .unwrap(),
            )
            .to("zoe@example.fr".parse::<Mailbox>().unwrap())
            .subject("Vérifiez votre adresse")
            .message_id(Some("<test-1@mail.example.test>".into()))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(
                "Bonjour,\n\nvoici le lien.\n".to_owned(),
                "<p>Bonjour,</p>".to_owned(),
            ))
            .unwrap()
    }

    /// The tags of the message's DKIM-Signature header (unfolded), if any.
    fn dkim_tags(msg: &Message) -> Option<Vec<(String, String)>> {
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let start = raw.find("DKIM-Signature:")?;
        let mut value = String::new();
        for (i, line) in raw[start + "DKIM-Signature:".len()..]
            .split("\r\n")
            .enumerate()
        {
            if i > 0 && !line.starts_with([' ', '\t']) {
                break;
            }
            value.push_str(line.trim());
        }
        Some(
            value
                .split(';')
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }

    fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
        &tags.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn signs_with_ed25519_and_the_right_domain_and_selector() {
        let key = KeyFile::new(ED25519_PEM);
        let signer = DkimSigner::load(&key.settings(None), "mail.example.test").unwrap();
        assert_eq!(signer.algorithm(), "ed25519");
        let mut msg = message();
        assert!(dkim_tags(&msg).is_none());
        signer.sign(&mut msg);
        let tags = dkim_tags(&msg).expect("a DKIM-Signature header");
        assert_eq!(tag(&tags, "v"), "1");
        assert_eq!(tag(&tags, "a"), "ed25519-sha256");
        assert_eq!(tag(&tags, "d"), "mail.example.test");
        assert_eq!(tag(&tags, "s"), "guichet");
        assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
        let signed: Vec<&str> = tag(&tags, "h").split(':').collect();
        for h in ["from", "to", "subject", "date", "message-id"] {
            assert!(signed.contains(&h), "{h} not signed: {signed:?}");
        }
        // An Ed25519 signature is 64 bytes.
        let b: String = tag(&tags, "b").split_ascii_whitespace().collect();
        assert_eq!(STANDARD.decode(b).unwrap().len(), 64);
        assert!(!tag(&tags, "bh").is_empty());
    }

    #[test]
    fn an_explicit_domain_wins_over_the_sender_domain() {
        let key = KeyFile::new(ED25519_PEM);
        let signer =
            DkimSigner::load(&key.settings(Some("example.test")), "mail.example.test").unwrap();
        let mut msg = message();
        signer.sign(&mut msg);
        let tags = dkim_tags(&msg).unwrap();
        assert_eq!(tag(&tags, "d"), "example.test");
    }

    #[test]
    fn signs_with_rsa_in_pkcs8_and_pkcs1() {
        for pem in [RSA_PKCS8_PEM, RSA_PKCS1_PEM] {
            let key = KeyFile::new(pem);
            let signer = DkimSigner::load(&key.settings(None), "mail.example.test").unwrap();
            assert_eq!(signer.algorithm(), "rsa");
            let mut msg = message();
            signer.sign(&mut msg);
            let tags = dkim_tags(&msg).unwrap();
            assert_eq!(tag(&tags, "a"), "rsa-sha256");
            assert_eq!(tag(&tags, "d"), "mail.example.test");
            let b: String = tag(&tags, "b").split_ascii_whitespace().collect();
            assert_eq!(STANDARD.decode(b).unwrap().len(), 128);
        }
    }

    fn load_error(contents: &str) -> String {
        let key = KeyFile::new(contents);
        DkimSigner::load(&key.settings(None), "mail.example.test")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_keys_are_refused_with_a_clear_message() {
        let e = load_error("hello");
        assert!(e.contains("no PEM private key found"), "{e}");
        let e = load_error("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n");
        assert!(e.contains("not valid base64"), "{e}");
        let e = load_error("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n");
        assert!(e.contains("malformed PKCS#8"), "{e}");
        let e = load_error("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGKC\n");
        assert!(e.contains("no END line"), "{e}");
        let e = load_error(RSA_512_PEM);
        assert!(e.contains("RSA key of 512 bits"), "{e}");
        let e = load_error(ED448_PEM);
        assert!(e.contains("Ed448"), "{e}");
        let e = load_error(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        assert!(e.contains("encrypted"), "{e}");
        let e = load_error("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        assert!(e.contains("no PEM private key found"), "{e}");
        // The message names the file but never quotes the key.
        let e = load_error(&RSA_512_PEM.replace("MIIBVgIBADAN", "MIIBVgIBAXAN"));
        assert!(e.contains("guichet-dkim-"), "{e}");
        assert!(!e.contains("MIIBV"), "{e}");
    }

    #[test]
    fn a_missing_file_or_a_bad_selector_is_an_error() {
        let settings = DkimSettings {
            key_file: "/nonexistent/guichet-dkim.pem".into(),
            selector: "guichet".into(),
            domain: None,
        };
        let e = DkimSigner::load(&settings, "mail.example.test").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read DKIM key file /nonexistent/"),
            "{e}"
        );

        let key = KeyFile::new(ED25519_PEM);
        let mut settings = key.settings(None);
        settings.selector = "a; b=c".into();
        assert!(matches!(
            DkimSigner::load(&settings, "mail.example.test"),
            Err(DkimError::Selector(_))
        ));
        let settings = key.settings(Some("localhost"));
        assert!(matches!(
            DkimSigner::load(&settings, "mail.example.test"),
            Err(DkimError::Domain(_))
        ));
    }
}
