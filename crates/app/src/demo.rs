//! The demo: a customer one can log in as at once, created on `guichet serve --demo`.

use crate::{App, AppError, Result, crypto, ids};
use guichet_store::accounts::{self, AccountRow};

pub const DEMO_EMAIL: &str = "demo@guichet.localhost";
pub const DEMO_PASSWORD: &str = "demo-guichet-2026";

/// Create the demo customer if missing (idempotent). Returns true when it was created.
pub async fn seed(app: &App) -> Result<bool> {
    {
        let mut c = app.db.conn().await?;
        if accounts::by_email(&mut c, DEMO_EMAIL).await?.is_some() {
            return Ok(false);
        }
    }
    let hash = crypto::hash_password_async(DEMO_PASSWORD.to_owned())
        .await
        .map_err(AppError::internal)?;
    let now = app.now_ms();
    let row = AccountRow {
        id: ids::new_id(now),
        customer_code: "gc-10001".into(),
        kind: "individual".into(),
        state: "active".into(),
        email: DEMO_EMAIL.into(),
        email_verified_at: Some(now),
        password_hash: hash,
        password_changed_at: now,
        first_name: "Camille".into(),
        last_name: "Demo".into(),
        organisation: None,
        vat_number: None,
        address_line1: Some("1 rue de l'Exemple".into()),
        address_line2: None,
        postal_code: Some("69001".into()),
        city: Some("Lyon".into()),
        region: None,
        country: "FR".into(),
        language: "fr".into(),
        currency: "EUR".into(),
        backup_email: None,
        backup_email_verified_at: None,
        phone: None,
        phone_verified_at: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let mut tx = app.db.begin().await?;
    match accounts::insert(tx.conn(), &row).await {
        Ok(()) => {}
        Err(e) if e.is_unique_on("email") || e.is_unique_on("customer_code") => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(true)
}
