//! Text messages: the SMS outbox and its sender job. The built-in senders are the sandbox one
//! (writes the message to the log; the row stays readable by operators) and an HTTP webhook
//! that a provider points at its SMS gateway.

use crate::{App, Result, ids};
use guichet_domain::Language;
use guichet_store::{AnyConnection, sms};

pub fn verification_text(lang: Language, provider: &str, code: &str) -> String {
    match lang {
        Language::Fr => format!(
            "{provider} : votre code de vérification est {code}. Il expire dans 10 minutes. Ne le communiquez à personne."
        ),
        Language::En => format!(
            "{provider}: your verification code is {code}. It expires in 10 minutes. Never share it."
        ),
    }
}

/// Queue a text in the caller's transaction.
pub async fn enqueue(
    app: &App,
    c: &mut AnyConnection,
    account_id: Option<&str>,
    to: &str,
    body: &str,
) -> Result<()> {
    let now = app.now_ms();
    sms::insert(
        c,
        &sms::SmsRow {
            id: ids::new_id(now),
            account_id: account_id.map(str::to_owned),
            to_phone: to.to_owned(),
            body: body.to_owned(),
            status: "queued".into(),
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        },
    )
    .await?;
    Ok(())
}

/// Issue a 6-digit code for `purpose` (older unused ones are voided), stored hashed and bound
/// to the account, and text it to `phone`, in the caller's transaction.
pub async fn send_code(
    app: &App,
    c: &mut AnyConnection,
    a: &guichet_store::accounts::AccountRow,
    phone: &str,
    purpose: &str,
    payload: Option<String>,
    ttl_ms: i64,
) -> Result<()> {
    use crate::crypto;
    use guichet_store::action_tokens;
    let now = app.now_ms();
    action_tokens::void_unused(c, &a.id, purpose, now).await?;
    let code = crypto::numeric_code(6);
    action_tokens::insert(
        c,
        &action_tokens::ActionTokenRow {
            id: ids::new_id(now),
            account_id: a.id.clone(),
            purpose: purpose.to_owned(),
            token_hash: crypto::hash_code(&a.id, &code),
            payload,
            attempts: 0,
            created_at: now,
            expires_at: now + ttl_ms,
            used_at: None,
        },
    )
    .await?;
    let body = verification_text(
        crate::accounts::language_of(a),
        &app.config.provider_name,
        &code,
    );
    enqueue(app, c, Some(&a.id), phone, &body).await
}

/// Deliver due texts with the configured sender; returns how many went out.
pub async fn deliver_due(app: &App) -> Result<usize> {
    let now = app.now_ms();
    let due = {
        let mut c = app.db.conn().await?;
        sms::due(&mut c, now, 50).await?
    };
    let mut sent = 0;
    for m in due {
        let mut c = app.db.conn().await?;
        let now = app.now_ms();
        if !sms::lease(&mut c, &m.id, now, now + 60_000).await? {
            continue;
        }
        match &app.config.sms_webhook_url {
            None => {
                // Sandbox sender: the text (with its code) goes to the log, on purpose.
                tracing::info!(sms = %m.id, to = %m.to_phone, body = %m.body, "sandbox SMS");
                sms::mark_sent(&mut c, &m.id, app.now_ms(), true).await?;
                sent += 1;
            }
            Some(url) => match crate::worker::post_json(
                url,
                &serde_json::json!({"id": m.id, "to": m.to_phone, "body": m.body}),
            )
            .await
            {
                Ok(()) => {
                    sms::mark_sent(&mut c, &m.id, app.now_ms(), app.config.sandbox).await?;
                    sent += 1;
                }
                Err(e) => {
                    let next =
                        crate::mail::sender::retry_at(app.now_ms(), m.attempts + 1, m.created_at)
                            .filter(|t| t - m.created_at < 15 * 60_000);
                    sms::mark_attempt_failed(&mut c, &m.id, &e, next).await?;
                }
            },
        }
    }
    Ok(sent)
}
