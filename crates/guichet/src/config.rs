//! Configuration: a TOML file (`--config`, `GUICHET_CONFIG`, or `./guichet.toml` when present),
//! then `GUICHET_*` environment variables, then command-line flags. `check-config` prints the
//! result with secrets masked.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: String,
    /// Where the embedded SQLite database and uploaded files live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data_dir>/guichet.db`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// Base URL of links in mails; default `http://<listen address>`.
    pub public_url: Option<String>,
    /// Sandbox mode: movable clock, sandbox gateway and SMS log.
    pub sandbox: bool,
    pub provider_name: String,
    pub mail_from: String,
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://…`;
    /// unset: mails are kept and shown but not delivered.
    pub smtp_url: Option<String>,
    pub sms_webhook_url: Option<String>,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    /// `text` or `json`.
    pub log_format: String,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (client IP for limits
    /// and security events).
    pub trusted_proxies: Vec<String>,
    /// PEM private key (Ed25519 or RSA) that DKIM-signs outgoing mail; unset: no signature.
    pub dkim_key_file: Option<PathBuf>,
    pub dkim_selector: String,
    /// Signing domain (`d=`); default: the domain of `mail_from`.
    pub dkim_domain: Option<String>,
    /// The provider's provisioning endpoint: signed webhooks for every order and service event.
    pub provisioning_url: Option<String>,
    /// Shared secret of the HMAC-SHA256 signature of webhooks (required with the URL).
    pub provisioning_secret: Option<String>,
    /// The built-in provisioner delivers every product, not only those marked instant
    /// (the demo sets it).
    pub builtin_provisioner_all: bool,
    /// Country where the seller is established for VAT (ISO 3166-1, an EU country).
    pub seller_country: String,
    /// Days an unpaid order waits for its payment before it is cancelled.
    pub order_expiry_days: i64,
    /// Days a support ticket waits for the customer's answer before it is closed.
    pub ticket_autoclose_days: i64,
    /// The seller printed on invoices (default: `provider_name`).
    pub seller_name: Option<String>,
    /// Street lines of the seller's address.
    pub seller_address: Vec<String>,
    pub seller_postal_code: Option<String>,
    pub seller_city: Option<String>,
    pub seller_vat_number: Option<String>,
    /// Registration identifiers as `LABEL=value`, e.g. `SIREN=123456789`.
    pub seller_legal_ids: Vec<String>,
    pub seller_email: Option<String>,
    /// Invoice numbers are `{prefix}{YYYY}-{seq}`; credit notes `{prefix}AV{YYYY}-{seq}`.
    pub invoice_prefix: String,
    /// The provider's IBAN and BIC shown to customers paying by bank transfer (unset: no
    /// transfers).
    pub bank_transfer_iban: Option<String>,
    pub bank_transfer_bic: Option<String>,
    /// VIES REST API base (e.g. `https://ec.europa.eu/taxation_customs/vies/rest-api`): reverse
    /// charge only for VAT numbers VIES confirms. Unset: check digits only.
    pub vies_url: Option<String>,
    /// The payment gateway: `sandbox` (sandbox mode only; the default there) or `stripe`.
    /// Unset outside sandbox mode: no gateway (bank transfers only).
    pub gateway: Option<String>,
    /// Stripe secret key (`sk_…` or a restricted `rk_…`), required with `gateway = "stripe"`.
    pub stripe_secret_key: Option<String>,
    /// Stripe publishable key (`pk_…`), handed to the card form with each SetupIntent.
    pub stripe_publishable_key: Option<String>,
    /// Stripe's API base URL (tests point it to a fake).
    pub stripe_api_url: String,
    /// Time allowed for one Stripe request, answer included; a charge without an answer in
    /// time is reconciled later, never charged twice.
    pub stripe_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./guichet-data"),
            database_url: None,
            database_max_connections: 16,
            public_url: None,
            sandbox: false,
            provider_name: "Guichet".into(),
            mail_from: "Guichet <no-reply@guichet.localhost>".into(),
            smtp_url: None,
            sms_webhook_url: None,
            session_idle_minutes: 120,
            session_absolute_hours: 168,
            log_format: "text".into(),
            trusted_proxies: Vec::new(),
            dkim_key_file: None,
            dkim_selector: "guichet".into(),
            dkim_domain: None,
            provisioning_url: None,
            provisioning_secret: None,
            builtin_provisioner_all: false,
            seller_country: "FR".into(),
            order_expiry_days: 7,
            ticket_autoclose_days: 7,
            seller_name: None,
            seller_address: Vec::new(),
            seller_postal_code: None,
            seller_city: None,
            seller_vat_number: None,
            seller_legal_ids: Vec::new(),
            seller_email: None,
            invoice_prefix: "GC".into(),
            bank_transfer_iban: None,
            bank_transfer_bic: None,
            vies_url: None,
            gateway: None,
            stripe_secret_key: None,
            stripe_publishable_key: None,
            stripe_api_url: guichet_app::stripe::DEFAULT_BASE_URL.into(),
            stripe_timeout_ms: 30_000,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn split_list(v: &str, sep: char) -> Vec<String> {
    v.split(sep)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn flag(v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => bail!("expected 1/0, true/false, yes/no or on/off, got {other:?}"),
    }
}

impl Config {
    /// Load the file (if any) then apply the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| env("GUICHET_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("guichet.toml")).filter(|p| p.exists()));
        let mut c = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => Config::default(),
        };
        c.apply_env()?;
        c.validate()?;
        Ok(c)
    }

    fn apply_env(&mut self) -> Result<()> {
        if let Some(v) = env("GUICHET_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = env("GUICHET_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("GUICHET_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("GUICHET_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections =
                v.parse().context("GUICHET_DATABASE_MAX_CONNECTIONS")?;
        }
        if let Some(v) = env("GUICHET_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = env("GUICHET_SANDBOX") {
            self.sandbox = flag(&v).context("GUICHET_SANDBOX")?;
        }
        if let Some(v) = env("GUICHET_PROVIDER_NAME") {
            self.provider_name = v;
        }
        if let Some(v) = env("GUICHET_MAIL_FROM") {
            self.mail_from = v;
        }
        if let Some(v) = env("GUICHET_SMTP_URL") {
            self.smtp_url = Some(v);
        }
        if let Some(v) = env("GUICHET_SMS_WEBHOOK_URL") {
            self.sms_webhook_url = Some(v);
        }
        if let Some(v) = env("GUICHET_SESSION_IDLE_MINUTES") {
            self.session_idle_minutes = v.parse().context("GUICHET_SESSION_IDLE_MINUTES")?;
        }
        if let Some(v) = env("GUICHET_SESSION_ABSOLUTE_HOURS") {
            self.session_absolute_hours = v.parse().context("GUICHET_SESSION_ABSOLUTE_HOURS")?;
        }
        if let Some(v) = env("GUICHET_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = env("GUICHET_DKIM_KEY_FILE") {
            self.dkim_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("GUICHET_DKIM_SELECTOR") {
            self.dkim_selector = v;
        }
        if let Some(v) = env("GUICHET_DKIM_DOMAIN") {
            self.dkim_domain = Some(v);
        }
        if let Some(v) = env("GUICHET_PROVISIONING_URL") {
            self.provisioning_url = Some(v);
        }
        if let Some(v) = env("GUICHET_PROVISIONING_SECRET") {
            self.provisioning_secret = Some(v);
        }
        if let Some(v) = env("GUICHET_BUILTIN_PROVISIONER_ALL") {
            self.builtin_provisioner_all = flag(&v).context("GUICHET_BUILTIN_PROVISIONER_ALL")?;
        }
        if let Some(v) = env("GUICHET_SELLER_COUNTRY") {
            self.seller_country = v.trim().to_ascii_uppercase();
        }
        if let Some(v) = env("GUICHET_ORDER_EXPIRY_DAYS") {
            self.order_expiry_days = v.parse().context("GUICHET_ORDER_EXPIRY_DAYS")?;
        }
        if let Some(v) = env("GUICHET_TICKET_AUTOCLOSE_DAYS") {
            self.ticket_autoclose_days = v.parse().context("GUICHET_TICKET_AUTOCLOSE_DAYS")?;
        }
        if let Some(v) = env("GUICHET_SELLER_NAME") {
            self.seller_name = Some(v);
        }
        if let Some(v) = env("GUICHET_SELLER_ADDRESS") {
            self.seller_address = split_list(&v, ';');
        }
        if let Some(v) = env("GUICHET_SELLER_POSTAL_CODE") {
            self.seller_postal_code = Some(v);
        }
        if let Some(v) = env("GUICHET_SELLER_CITY") {
            self.seller_city = Some(v);
        }
        if let Some(v) = env("GUICHET_SELLER_VAT_NUMBER") {
            self.seller_vat_number = Some(v);
        }
        if let Some(v) = env("GUICHET_SELLER_LEGAL_IDS") {
            self.seller_legal_ids = split_list(&v, ';');
        }
        if let Some(v) = env("GUICHET_SELLER_EMAIL") {
            self.seller_email = Some(v);
        }
        if let Some(v) = env("GUICHET_BANK_TRANSFER_IBAN") {
            self.bank_transfer_iban = Some(v);
        }
        if let Some(v) = env("GUICHET_BANK_TRANSFER_BIC") {
            self.bank_transfer_bic = Some(v);
        }
        if let Some(v) = env("GUICHET_VIES_URL") {
            self.vies_url = Some(v);
        }
        if let Some(v) = env("GUICHET_GATEWAY") {
            self.gateway = Some(v.trim().to_ascii_lowercase());
        }
        if let Some(v) = env("GUICHET_STRIPE_SECRET_KEY") {
            self.stripe_secret_key = Some(v.trim().to_owned());
        }
        if let Some(v) = env("GUICHET_STRIPE_PUBLISHABLE_KEY") {
            self.stripe_publishable_key = Some(v.trim().to_owned());
        }
        if let Some(v) = env("GUICHET_STRIPE_API_URL") {
            self.stripe_api_url = v;
        }
        if let Some(v) = env("GUICHET_STRIPE_TIMEOUT_MS") {
            self.stripe_timeout_ms = v.parse().context("GUICHET_STRIPE_TIMEOUT_MS")?;
        }
        if let Some(v) = env("GUICHET_INVOICE_PREFIX") {
            self.invoice_prefix = v;
        }
        if let Some(v) = env("GUICHET_LOG_FORMAT") {
            self.log_format = v;
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json");
        }
        if let Some(u) = &self.database_url
            && guichet_store::Backend::from_url(u).is_none()
        {
            bail!("database_url must start with sqlite:// or postgres://");
        }
        if let Some(u) = &self.public_url {
            url::Url::parse(u).with_context(|| format!("public_url {u:?} is not a URL"))?;
        }
        if let Some(u) = &self.smtp_url {
            let parsed = url::Url::parse(u).with_context(|| "smtp_url is not a URL")?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                bail!("smtp_url must start with smtp:// or smtps://");
            }
        }
        for p in &self.trusted_proxies {
            p.parse::<std::net::IpAddr>()
                .with_context(|| format!("trusted_proxies: {p:?} is not an IP address"))?;
        }
        if !(5..=7 * 24 * 60).contains(&self.session_idle_minutes) {
            bail!("session_idle_minutes must be between 5 and 10080");
        }
        if !(1..=90 * 24).contains(&self.session_absolute_hours) {
            bail!("session_absolute_hours must be between 1 and 2160");
        }
        if let Some(u) = &self.provisioning_url {
            let parsed = url::Url::parse(u).with_context(|| "provisioning_url is not a URL")?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("provisioning_url must start with http:// or https://");
            }
            if self
                .provisioning_secret
                .as_deref()
                .is_none_or(|s| s.len() < 16)
            {
                bail!(
                    "provisioning_secret (at least 16 characters) is required with provisioning_url"
                );
            }
        }
        if guichet_domain::tax::rates_on(&self.seller_country, jiff::civil::date(2026, 1, 1))
            .is_none()
        {
            bail!("seller_country must be an EU country code, e.g. FR");
        }
        if self.invoice_prefix.is_empty()
            || self.invoice_prefix.len() > 10
            || !self
                .invoice_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!("invoice_prefix must be 1 to 10 letters, digits or dashes");
        }
        if let Some(v) = &self.seller_vat_number
            && let Err(e) = guichet_domain::account::vat_number(v)
        {
            bail!("seller_vat_number: {}", e.message);
        }
        match (&self.bank_transfer_iban, &self.bank_transfer_bic) {
            (None, None) => {}
            (Some(iban), Some(bic)) => {
                guichet_domain::iban::Iban::parse(iban)
                    .map_err(|e| anyhow::anyhow!("bank_transfer_iban: {}", e.message))?;
                if !(8..=11).contains(&bic.trim().len()) {
                    bail!("bank_transfer_bic must have 8 or 11 characters");
                }
            }
            _ => bail!("bank_transfer_iban and bank_transfer_bic go together"),
        }
        for id in &self.seller_legal_ids {
            if !id.contains('=') {
                bail!("seller_legal_ids: {id:?} is not LABEL=value");
            }
        }
        if !(1..=90).contains(&self.order_expiry_days) {
            bail!("order_expiry_days must be between 1 and 90");
        }
        match self.gateway.as_deref() {
            None => {}
            Some("sandbox") if self.sandbox => {}
            Some("sandbox") => {
                bail!("gateway = \"sandbox\" needs sandbox mode (GUICHET_SANDBOX=1)")
            }
            Some("stripe") => {
                let key = self.stripe_secret_key.as_deref().unwrap_or("");
                if key.is_empty() {
                    bail!(
                        "gateway = \"stripe\" needs the Stripe secret key: set stripe_secret_key \
                         or GUICHET_STRIPE_SECRET_KEY"
                    );
                }
                if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                    bail!("stripe_secret_key must be a secret (sk_…) or restricted (rk_…) key");
                }
                if let Some(pk) = &self.stripe_publishable_key
                    && !pk.starts_with("pk_")
                {
                    bail!("stripe_publishable_key must start with pk_");
                }
                let parsed = url::Url::parse(&self.stripe_api_url)
                    .with_context(|| "stripe_api_url is not a URL")?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    bail!("stripe_api_url must start with https:// (or http:// for a local fake)");
                }
                if !(100..=120_000).contains(&self.stripe_timeout_ms) {
                    bail!("stripe_timeout_ms must be between 100 and 120000");
                }
            }
            Some(other) => bail!("gateway must be sandbox or stripe, not {other:?}"),
        }
        if !(1..=365).contains(&self.ticket_autoclose_days) {
            bail!("ticket_autoclose_days must be between 1 and 365");
        }
        Ok(())
    }

    /// The gateway in use: the one chosen, else the sandbox gateway in sandbox mode.
    pub fn gateway(&self) -> Option<&str> {
        self.gateway
            .as_deref()
            .or(self.sandbox.then_some("sandbox"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("guichet.db").display()))
    }

    /// The configuration with passwords in URLs masked, as TOML.
    pub fn masked_toml(&self) -> Result<String> {
        let mut c = self.clone();
        c.database_url = Some(guichet_store::redact_url(&self.database_url()));
        c.smtp_url = c.smtp_url.as_deref().map(guichet_store::redact_url);
        c.sms_webhook_url = c.sms_webhook_url.as_deref().map(guichet_store::redact_url);
        c.provisioning_url = c.provisioning_url.as_deref().map(guichet_store::redact_url);
        c.provisioning_secret = c
            .provisioning_secret
            .as_ref()
            .map(|_| "********".to_owned());
        c.stripe_secret_key = c.stripe_secret_key.as_ref().map(|_| "********".to_owned());
        c.stripe_api_url = guichet_store::redact_url(&c.stripe_api_url);
        Ok(toml::to_string_pretty(&c)?)
    }

    pub fn app_config(&self, public_url: String) -> guichet_app::AppConfig {
        guichet_app::AppConfig {
            public_url: public_url.trim_end_matches('/').to_owned(),
            sandbox: self.sandbox,
            provider_name: self.provider_name.clone(),
            mail_from: self.mail_from.clone(),
            smtp_url: self.smtp_url.clone(),
            session_idle_secs: self.session_idle_minutes * 60,
            session_absolute_secs: self.session_absolute_hours * 3600,
            sms_webhook_url: self.sms_webhook_url.clone(),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            dkim: self
                .dkim_key_file
                .as_ref()
                .map(|path| guichet_app::config::DkimSettings {
                    key_file: path.clone(),
                    selector: self.dkim_selector.clone(),
                    domain: self.dkim_domain.clone(),
                }),
            data_dir: self.data_dir.clone(),
            provisioning: self.provisioning_url.clone().map(|url| {
                guichet_app::config::ProvisioningSettings {
                    url,
                    secret: self.provisioning_secret.clone().unwrap_or_default(),
                }
            }),
            builtin_provisioner_all: self.builtin_provisioner_all,
            seller_country: self.seller_country.clone(),
            order_expiry_days: self.order_expiry_days,
            ticket_autoclose_days: self.ticket_autoclose_days,
            seller: guichet_app::config::SellerSettings {
                name: self
                    .seller_name
                    .clone()
                    .unwrap_or_else(|| self.provider_name.clone()),
                address_lines: self.seller_address.clone(),
                postal_code: self.seller_postal_code.clone(),
                city: self.seller_city.clone(),
                country: self.seller_country.clone(),
                vat_number: self.seller_vat_number.clone(),
                legal_ids: self
                    .seller_legal_ids
                    .iter()
                    .filter_map(|s| s.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect(),
                email: self.seller_email.clone(),
            },
            invoice_prefix: self.invoice_prefix.clone(),
            vies_url: self.vies_url.clone(),
            stripe: (self.gateway() == Some("stripe")).then(|| {
                guichet_app::config::StripeSettings {
                    secret_key: self.stripe_secret_key.clone().unwrap_or_default(),
                    api_url: self.stripe_api_url.clone(),
                    publishable_key: self.stripe_publishable_key.clone(),
                    timeout: std::time::Duration::from_millis(self.stripe_timeout_ms),
                }
            }),
            bank_transfer: match (&self.bank_transfer_iban, &self.bank_transfer_bic) {
                (Some(iban), Some(bic)) => Some(guichet_app::config::BankTransferSettings {
                    iban: guichet_domain::iban::Iban::parse(iban)
                        .map(|i| i.as_str().to_owned())
                        .unwrap_or_else(|_| iban.clone()),
                    bic: bic.trim().to_ascii_uppercase(),
                }),
                _ => None,
            },
        }
    }
}
