//! The account itself: "Mon profil" (profile, postal address, language, primary e-mail
//! change) and security (password, backup e-mail, phone, authenticator app and backup codes,
//! sessions, security events). Changes the API guards with a re-authentication ask for the
//! password (and code) again in the page, then are sent again by the customer.

use super::error::{InLang, PanelError, PanelResult, see_other};
use super::session::{Fields, Viewer};
use super::{Form, Layout, ok, render};
use crate::AppState;
use crate::extract::Ctx;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use guichet_app::accounts;
use guichet_app::{AppError, ErrorKind, auth, factors, health, security};
use guichet_domain::account::ProfilePatch;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile_page).post(save_profile))
        .route("/profile/email", post(change_email))
        .route("/security", get(security_page))
        .route("/security/reauth", post(reauth))
        .route("/security/password", post(change_password))
        .route("/security/backup-email", post(set_backup_email))
        .route("/security/backup-email/remove", post(remove_backup_email))
        .route("/security/phone", post(set_phone))
        .route("/security/phone/verify", post(verify_phone))
        .route("/security/totp", post(enrol_totp))
        .route("/security/totp/confirm", post(confirm_totp))
        .route("/security/totp/disable", post(disable_totp))
        .route("/security/backup-codes", post(backup_codes))
        .route("/security/sessions/{id}/revoke", post(revoke_session))
        .route("/security/sessions/revoke-others", post(revoke_others))
}

// ---- profile ----

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    l: Layout,
    form: Form,
    email_form: Form,
    email: String,
    customer_code: String,
    company: bool,
}

const PROFILE_FIELDS: [&str; 11] = [
    "first_name",
    "last_name",
    "organisation",
    "vat_number",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "language",
];

fn profile_form(v: &Viewer) -> Form {
    let a = &v.p.account;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    Form::new()
        .with("first_name", &a.first_name)
        .with("last_name", &a.last_name)
        .with("organisation", &opt(&a.organisation))
        .with("vat_number", &opt(&a.vat_number))
        .with("address_line1", &opt(&a.address_line1))
        .with("address_line2", &opt(&a.address_line2))
        .with("postal_code", &opt(&a.postal_code))
        .with("city", &opt(&a.city))
        .with("region", &opt(&a.region))
        .with("country", &a.country)
        .with("language", &a.language)
}

fn profile_view(s: &AppState, v: &Viewer, form: Form, email_form: Form) -> ProfilePage {
    ProfilePage {
        l: Layout::viewer(v, s, "profile-title", "profile"),
        form,
        email_form,
        email: v.p.account.email.clone(),
        customer_code: v.p.account.customer_code.clone(),
        company: v.p.account.kind == "company",
    }
}

async fn profile_page(State(s): State<AppState>, v: Viewer) -> PanelResult {
    let form = profile_form(&v);
    Ok(ok(&profile_view(&s, &v, form, Form::new())))
}

async fn save_profile(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    let field = |n: &str| Some(f.get(n).trim().to_owned());
    let patch = ProfilePatch {
        first_name: field("first_name"),
        last_name: field("last_name"),
        organisation: field("organisation"),
        vat_number: field("vat_number"),
        language: field("language"),
        country: field("country").map(|c| c.to_ascii_uppercase()),
        address: accounts::address_patch(
            field("address_line1"),
            field("address_line2"),
            field("postal_code"),
            field("city"),
            field("region"),
        ),
    };
    match accounts::update_profile(&s.app, &v.p.account_id, &patch).await {
        Ok(_) => Ok(see_other("/profile?done=profile_saved")),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            crate::error::status_of(e.kind),
            &profile_view(
                &s,
                &v,
                Form::from_fields(&f).fail(&v.tr, &e, &PROFILE_FIELDS),
                Form::new(),
            ),
        )),
        Err(e) => Err(e).lang(v.tr),
    }
}

async fn change_email(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match security::request_email_change(
        &s.app,
        &v.p,
        f.get("email").trim(),
        f.get("password"),
        &ctx,
    )
    .await
    {
        Ok(()) => Ok(see_other("/profile?done=email_change_sent")),
        Err(e) if e.code == "reauth_required" => Ok(see_other("/security?reauth=1#reauth")),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            crate::error::status_of(e.kind),
            &profile_view(
                &s,
                &v,
                profile_form(&v),
                Form::from_fields(&f).fail(&v.tr, &e, &["email", "password"]),
            ),
        )),
        Err(e) => Err(e).lang(v.tr),
    }
}

// ---- security ----

pub struct SessionLine {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub since: String,
    pub seen: String,
    pub current: bool,
}

pub struct EventLine {
    pub kind: String,
    pub label: String,
    pub at: String,
    pub ip: String,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    l: Layout,
    totp: bool,
    codes_left: i64,
    second_factor: bool,
    backup_email: String,
    backup_verified: bool,
    phone: String,
    phone_verified: bool,
    sessions: Vec<SessionLine>,
    events: Vec<EventLine>,
    /// Which section `form` belongs to.
    section: &'static str,
    form: Form,
    reauth: bool,
    enrolment: Option<(String, String)>,
    codes: Vec<String>,
    phone_code_sent: bool,
}

#[derive(Default)]
struct Extra {
    section: &'static str,
    form: Form,
    reauth: bool,
    enrolment: Option<(String, String)>,
    codes: Vec<String>,
    phone_code_sent: bool,
}

async fn security_view(s: &AppState, v: &Viewer, x: Extra) -> Result<SecurityPage, PanelError> {
    let tr = v.tr;
    let st = factors::status(&s.app, &v.p).await.lang(tr)?;
    let a = accounts::load(&s.app, &v.p.account_id).await.lang(tr)?;
    let sessions = auth::list_sessions(&s.app, &v.p)
        .await
        .lang(tr)?
        .into_iter()
        .map(|x| SessionLine {
            device: x.user_agent.unwrap_or_default(),
            ip: x.ip.unwrap_or_default(),
            since: tr.datetime(&x.created_at),
            seen: tr.datetime(&x.last_seen_at),
            current: x.current,
            id: x.id,
        })
        .collect();
    let unseen = {
        let h = health::checklist(&s.app, &v.p).await.lang(tr)?;
        h.items
            .iter()
            .find(|i| i.code == "no_unread_security_event")
            .and_then(|i| i.count)
            .unwrap_or(0)
    };
    let routine = guichet_store::security_events::ROUTINE_KINDS;
    let mut left = unseen;
    let events = security::events(&s.app, &v.p, 50)
        .await
        .lang(tr)?
        .into_iter()
        .map(|e| {
            let unread = left > 0 && !routine.contains(&e.kind.as_str());
            if unread {
                left -= 1;
            }
            EventLine {
                label: tr.code("event-kind", &e.kind),
                at: tr.datetime(&e.created_at),
                ip: e.ip.unwrap_or_default(),
                kind: e.kind,
                unread,
            }
        })
        .collect();
    // Shown now: read.
    health::mark_events_seen(&s.app, &v.p).await.lang(tr)?;
    Ok(SecurityPage {
        l: Layout::viewer(v, s, "security-title", "security"),
        totp: st.totp_enabled,
        codes_left: st.backup_codes_remaining,
        second_factor: st.totp_enabled,
        backup_email: a.backup_email.clone().unwrap_or_default(),
        backup_verified: a.backup_email_verified_at.is_some(),
        phone: a.phone.clone().unwrap_or_default(),
        phone_verified: a.phone_verified_at.is_some(),
        sessions,
        events,
        reauth: x.reauth || v.path.contains("reauth=1"),
        section: x.section,
        form: x.form,
        enrolment: x.enrolment,
        codes: x.codes,
        phone_code_sent: x.phone_code_sent || v.path.contains("done=phone_code_sent"),
    })
}

async fn security_page(State(s): State<AppState>, v: Viewer) -> PanelResult {
    Ok(ok(&security_view(&s, &v, Extra::default()).await?))
}

/// The answer to a security action: done → back to the page with a notice; refused → the
/// page with the error in its section, or the re-authentication form when it is needed.
async fn outcome(
    s: &AppState,
    v: &Viewer,
    f: &Fields,
    section: &'static str,
    known: &[&str],
    r: Result<(), AppError>,
    done: &str,
) -> PanelResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/security?done={done}#{section}"))),
        Err(e) if e.kind == ErrorKind::Internal => Err(PanelError::App(v.tr, e)),
        Err(e) => {
            let reauth = e.code == "reauth_required";
            let form = Form::from_fields(f).fail(&v.tr, &e, known);
            Ok(render(
                crate::error::status_of(e.kind),
                &security_view(
                    s,
                    v,
                    Extra {
                        section,
                        form,
                        reauth,
                        ..Extra::default()
                    },
                )
                .await?,
            ))
        }
    }
}

async fn reauth(State(s): State<AppState>, v: Viewer, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    v.check(&f)?;
    let code = f.opt("code");
    let r = factors::reauthenticate(&s.app, &v.p, f.get("password"), code.as_deref(), &ctx).await;
    match r {
        Ok(()) => Ok(see_other("/security?done=reauth_ok")),
        Err(e) if e.kind == ErrorKind::Internal => Err(PanelError::App(v.tr, e)),
        Err(e) => Ok(render(
            crate::error::status_of(e.kind),
            &security_view(
                &s,
                &v,
                Extra {
                    section: "reauth",
                    form: Form::new().fail(&v.tr, &e, &["password", "code"]),
                    reauth: true,
                    ..Extra::default()
                },
            )
            .await?,
        )),
    }
}

async fn change_password(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = security::change_password(
        &s.app,
        &v.p,
        f.get("current_password"),
        f.get("new_password"),
        &ctx,
    )
    .await;
    outcome(
        &s,
        &v,
        &f,
        "password",
        &["current_password", "new_password"],
        r,
        "password_changed",
    )
    .await
}

async fn set_backup_email(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = security::set_backup_email(&s.app, &v.p, f.get("email").trim(), &ctx).await;
    outcome(
        &s,
        &v,
        &f,
        "backup-email",
        &["email"],
        r,
        "backup_email_sent",
    )
    .await
}

async fn remove_backup_email(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = security::remove_backup_email(&s.app, &v.p, &ctx).await;
    outcome(&s, &v, &f, "backup-email", &[], r, "backup_email_removed").await
}

async fn set_phone(State(s): State<AppState>, v: Viewer, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    v.check(&f)?;
    let r = security::set_phone(&s.app, &v.p, f.get("phone").trim(), &ctx).await;
    outcome(&s, &v, &f, "phone", &["phone"], r, "phone_code_sent").await
}

async fn verify_phone(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = security::verify_phone(&s.app, &v.p, f.get("code").trim(), &ctx).await;
    outcome(&s, &v, &f, "phone", &["code"], r, "phone_verified").await
}

async fn enrol_totp(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    match factors::enrol_totp(&s.app, &v.p).await {
        Ok(e) => Ok(ok(&security_view(
            &s,
            &v,
            Extra {
                section: "totp",
                enrolment: Some((e.qr_svg, e.secret)),
                ..Extra::default()
            },
        )
        .await?)),
        Err(e) => outcome(&s, &v, &f, "totp", &[], Err(e), "").await,
    }
}

async fn confirm_totp(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match factors::confirm_totp(&s.app, &v.p, f.get("code").trim(), &ctx).await {
        Ok(c) => Ok(ok(&security_view(
            &s,
            &v,
            Extra {
                section: "totp",
                codes: c.backup_codes,
                ..Extra::default()
            },
        )
        .await?)),
        Err(e) => outcome(&s, &v, &f, "totp", &["code"], Err(e), "").await,
    }
}

async fn disable_totp(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r =
        factors::disable_totp(&s.app, &v.p, f.get("password"), f.get("code").trim(), &ctx).await;
    outcome(
        &s,
        &v,
        &f,
        "totp",
        &["password", "code"],
        r,
        "totp_disabled",
    )
    .await
}

async fn backup_codes(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match factors::regenerate_backup_codes(&s.app, &v.p, &ctx).await {
        Ok(c) => Ok(ok(&security_view(
            &s,
            &v,
            Extra {
                section: "totp",
                codes: c.backup_codes,
                ..Extra::default()
            },
        )
        .await?)),
        Err(e) => outcome(&s, &v, &f, "totp", &[], Err(e), "").await,
    }
}

async fn revoke_session(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = auth::revoke_session(&s.app, &v.p, &id, &ctx).await;
    outcome(&s, &v, &f, "sessions", &[], r, "session_revoked").await
}

async fn revoke_others(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let r = auth::revoke_other_sessions(&s.app, &v.p, &ctx)
        .await
        .map(|_| ());
    outcome(&s, &v, &f, "sessions", &[], r, "sessions_revoked").await
}
