//! The mail sender job: delivers due outbox rows over SMTP, with a lease per mail so that two
//! nodes never send the same one, retries with exponential backoff on temporary failures, and
//! a final `failed` status (with its reason) on permanent ones or after three days. When DKIM
//! is configured, every message is signed just before it is sent.

use super::dkim::{DkimError, DkimSigner};
use crate::config::{AppConfig, DkimSettings};
use crate::{App, Result};
use guichet_store::emails::{self, EmailRow};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::{Duration, SystemTime};

const LEASE_MS: i64 = 5 * 60_000;
const BATCH: i64 = 50;
const GIVE_UP_AFTER_MS: i64 = 3 * 86_400_000;

pub struct MailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    dkim: Option<DkimSigner>,
}

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid sender address {0:?}: {1}")]
    From(String, String),
    #[error(transparent)]
    Dkim(#[from] DkimError),
}

/// What became of one delivery attempt.
enum Outcome {
    Sent,
    Retry(String),
    Permanent(String),
}

impl MailSender {
    /// The sender that `config` describes: its `mail_from`, and its DKIM key when set.
    pub fn for_config(
        smtp_url: &str,
        config: &AppConfig,
    ) -> std::result::Result<Self, SenderError> {
        Self::new(
            smtp_url,
            &config.mail_from,
            config.dkim.as_ref(),
            &config.mail_domain(),
        )
    }

    /// `dkim`: sign with this key, for `mail_domain` (the domain of `from`) unless the settings
    /// name another domain. The key is read here, once; a bad one is an error.
    pub fn new(
        smtp_url: &str,
        from: &str,
        dkim: Option<&DkimSettings>,
        mail_domain: &str,
    ) -> std::result::Result<Self, SenderError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| SenderError::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| SenderError::From(from.to_owned(), e.to_string()))?;
        let dkim = dkim
            .map(|settings| DkimSigner::load(settings, mail_domain))
            .transpose()?;
        if let Some(signer) = &dkim {
            tracing::info!(
                algorithm = %signer.algorithm(),
                selector = signer.selector(),
                domain = signer.domain(),
                "DKIM signing enabled"
            );
        }
        Ok(Self {
            transport,
            from,
            dkim,
        })
    }

    fn build(&self, app: &App, m: &EmailRow) -> std::result::Result<Message, String> {
        let body = super::outbox::render(app, m)
            .ok_or_else(|| "cannot render this mail's stored data".to_owned())?;
        let to: Mailbox = m
            .to_addr
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let date = SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(m.created_at).unwrap_or(0));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(body.subject)
            .message_id(Some(m.message_id.clone()))
            .date(date)
            .multipart(MultiPart::alternative_plain_html(body.text, body.html))
            .map_err(|e| format!("cannot build message: {e}"))
    }

    async fn attempt(&self, app: &App, m: &EmailRow) -> Outcome {
        let mut msg = match self.build(app, m) {
            Ok(msg) => msg,
            Err(e) => return Outcome::Permanent(e),
        };
        if let Some(signer) = &self.dkim {
            signer.sign(&mut msg);
        }
        match self.transport.send(msg).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// Deliver every mail due now; returns how many were sent.
    pub async fn deliver_due(&self, app: &App) -> Result<usize> {
        let mut sent = 0;
        loop {
            let now = app.now_ms();
            let due = {
                let mut c = app.db.conn().await?;
                emails::due(&mut c, now, BATCH).await?
            };
            if due.is_empty() {
                return Ok(sent);
            }
            let mut progressed = false;
            for m in due {
                let now = app.now_ms();
                {
                    let mut c = app.db.conn().await?;
                    if !emails::lease(&mut c, &m.id, now, now + LEASE_MS).await? {
                        continue;
                    }
                }
                progressed = true;
                let outcome = self.attempt(app, &m).await;
                let now = app.now_ms();
                let mut c = app.db.conn().await?;
                match outcome {
                    Outcome::Sent => {
                        emails::mark_sent(&mut c, &m.id, now).await?;
                        metrics::counter!("guichet_mails_sent_total").increment(1);
                        sent += 1;
                    }
                    Outcome::Permanent(err) => {
                        tracing::warn!(mail = %m.id, error = %err, "mail refused for good");
                        emails::mark_attempt_failed(&mut c, &m.id, &err, None).await?;
                        metrics::counter!("guichet_mails_failed_total").increment(1);
                    }
                    Outcome::Retry(err) => {
                        let next = retry_at(now, m.attempts + 1, m.created_at);
                        tracing::info!(mail = %m.id, error = %err, retry = next.is_some(), "mail delivery failed");
                        emails::mark_attempt_failed(&mut c, &m.id, &err, next).await?;
                    }
                }
            }
            if !progressed {
                return Ok(sent);
            }
        }
    }
}

/// When to try again after `attempts` failures: 30 s, 1 min, 2 min… capped at one hour, and
/// never more than three days after the mail was queued (then it is `failed`).
pub fn retry_at(now: i64, attempts: i64, created_at: i64) -> Option<i64> {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let delay = (30_000i64 << exp.min(7)).min(3_600_000);
    let next = now + delay;
    (next - created_at <= GIVE_UP_AFTER_MS).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::retry_at;

    #[test]
    fn backoff_grows_then_gives_up() {
        assert_eq!(retry_at(0, 1, 0), Some(30_000));
        assert_eq!(retry_at(0, 2, 0), Some(60_000));
        assert_eq!(retry_at(0, 3, 0), Some(120_000));
        assert_eq!(retry_at(0, 15, 0), Some(3_600_000));
        assert_eq!(retry_at(3 * 86_400_000, 15, 0), None);
    }
}
