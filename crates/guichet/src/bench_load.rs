//! `guichet bench seed-sessions`: a signed-in session for each of many seeded customers, their
//! bearer tokens written one a line, so that `scripts/load` can drive the API with wrk as
//! many customers at once (the seeded customers have no password to log in with).

use crate::config::Config;
use anyhow::{Context, Result};
use guichet_store::sessions::{self, SessionRow};
use std::io::Write;

pub async fn seed_sessions(customers: usize, out: &std::path::Path) -> Result<()> {
    let c = Config::load(None)?;
    let app = crate::serve::build_app(&c, c.public_url.clone().unwrap_or_default()).await?;
    let ids = guichet_store::seed::active_account_ids(&app.db, i64::try_from(customers)?).await?;
    let now = app.now_ms();
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    for chunk in ids.chunks(1_000) {
        let mut tx = app.db.begin().await?;
        for account in chunk {
            let (token, hash) = guichet_app::crypto::new_token(guichet_app::auth::SESSION_PREFIX);
            let row = SessionRow {
                id: guichet_app::ids::new_id(now),
                account_id: account.clone(),
                token_hash: hash,
                ip: Some("127.0.0.1".into()),
                user_agent: Some("guichet-load".into()),
                created_at: now,
                last_seen_at: now,
                expires_at: now + app.config.session_absolute_secs * 1000,
                revoked_at: None,
                revoked_reason: None,
                reauth_at: Some(now),
            };
            sessions::insert_session(tx.conn(), &row).await?;
            writeln!(file, "{token}")?;
        }
        tx.commit().await?;
    }
    file.flush()?;
    println!("{} sessions written to {}", ids.len(), out.display());
    app.db.close().await;
    Ok(())
}
