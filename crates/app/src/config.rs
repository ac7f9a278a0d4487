//! The settings use cases read (the binary builds them from its TOML file and environment).

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Base of every link in mails, e.g. `https://panel.example.net` (no trailing slash).
    pub public_url: String,
    pub sandbox: bool,
    /// The provider's name, as signed at the bottom of mails.
    pub provider_name: String,
    /// `From:` of outgoing mail, e.g. `Example Hosting <no-reply@example.net>`.
    pub mail_from: String,
    /// SMTP URL; `None` keeps mails in the log without delivering them.
    pub smtp_url: Option<String>,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    /// Where SMS are POSTed in production (`None`: the sandbox sender, log only).
    pub sms_webhook_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` gives the client address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// DKIM signing of outgoing mail, when configured.
    pub dkim: Option<DkimSettings>,
    /// Where uploaded documents are stored (under `documents/`).
    pub data_dir: std::path::PathBuf,
    /// The provider's provisioning endpoint, if any.
    pub provisioning: Option<ProvisioningSettings>,
    /// The built-in provisioner delivers every product, not only instant ones (demo).
    pub builtin_provisioner_all: bool,
    /// Seller's country for VAT.
    pub seller_country: String,
    /// Days an unpaid order waits before it is cancelled.
    pub order_expiry_days: i64,
    /// Days a ticket waits for the customer's answer before it is closed.
    pub ticket_autoclose_days: i64,
    /// Who issues the invoices, as printed on them.
    pub seller: SellerSettings,
    /// Invoice numbers are `{prefix}{YYYY}-{seq}`; credit notes `{prefix}AV{YYYY}-{seq}`.
    pub invoice_prefix: String,
    /// The provider's bank account for payments by transfer (`None`: no transfers).
    pub bank_transfer: Option<BankTransferSettings>,
    /// Base URL of the VIES REST API; `None`: VAT numbers are checked offline only.
    pub vies_url: Option<String>,
    /// Stripe as the installation's gateway, when chosen (`None`: the sandbox gateway in
    /// sandbox mode, else no gateway).
    pub stripe: Option<StripeSettings>,
}

/// How to reach Stripe. `Debug` never shows the secret key.
#[derive(Clone)]
pub struct StripeSettings {
    /// `sk_live_…` or `sk_test_…` (or a restricted `rk_…` key).
    pub secret_key: String,
    /// Stripe's API base URL (`https://api.stripe.com`; tests point it to a fake).
    pub api_url: String,
    /// `pk_…`, handed to the card form with each SetupIntent (Stripe.js needs it).
    pub publishable_key: Option<String>,
    /// Time allowed for one Stripe request, answer included.
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &"********")
            .field("api_url", &self.api_url)
            .field("publishable_key", &self.publishable_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct BankTransferSettings {
    pub iban: String,
    pub bic: String,
}

/// The seller's identity frozen into every invoice.
#[derive(Debug, Clone)]
pub struct SellerSettings {
    pub name: String,
    pub address_lines: Vec<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 (the VAT seller country).
    pub country: String,
    pub vat_number: Option<String>,
    /// Registration identifiers, e.g. `("SIREN", "123456789")`.
    pub legal_ids: Vec<(String, String)>,
    pub email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProvisioningSettings {
    pub url: String,
    /// HMAC-SHA256 key of the `Guichet-Signature` header.
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct DkimSettings {
    /// PEM private key file (Ed25519 or RSA).
    pub key_file: std::path::PathBuf,
    pub selector: String,
    /// `d=`; default: the domain of `mail_from`.
    pub domain: Option<String>,
}

impl AppConfig {
    /// The domain part of `mail_from`, used in Message-IDs.
    pub fn mail_domain(&self) -> String {
        let addr = self
            .mail_from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(&self.mail_from);
        addr.rsplit_once('@')
            .map(|(_, d)| d.trim().to_owned())
            .unwrap_or_else(|| "guichet.localhost".to_owned())
    }

    /// Cookies carry `Secure` when the panel is served over TLS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn link(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            path_and_query
        )
    }

    /// Settings for tests and the demo.
    pub fn for_tests() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            sandbox: true,
            provider_name: "Guichet Demo Hosting".into(),
            mail_from: "Guichet Demo Hosting <no-reply@guichet.localhost>".into(),
            smtp_url: None,
            session_idle_secs: 2 * 3600,
            session_absolute_secs: 7 * 86_400,
            sms_webhook_url: None,
            trusted_proxies: Vec::new(),
            dkim: None,
            data_dir: std::env::temp_dir(),
            provisioning: None,
            builtin_provisioner_all: false,
            seller_country: "FR".into(),
            order_expiry_days: 7,
            ticket_autoclose_days: 7,
            seller: SellerSettings {
                name: "Guichet Demo Hosting SAS".into(),
                address_lines: vec!["1 place de la Bourse".into()],
                postal_code: Some("69002".into()),
                city: Some("Lyon".into()),
                country: "FR".into(),
                vat_number: Some("FR40303265045".into()),
                legal_ids: vec![("SIREN".into(), "303265045".into())],
                email: Some("billing@guichet.localhost".into()),
            },
            invoice_prefix: "GC".into(),
            bank_transfer: None,
            vies_url: None,
            stripe: None,
        }
    }
}
