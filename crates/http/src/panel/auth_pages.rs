//! Pages before the customer space: log-in (and its second-factor step), sign-up, the mailed
//! e-mail verification, the forgotten password and its reset; log-out; the language switch.

use super::error::{InLang, PanelResult, see_other};
use super::session::{Fields, Guest, LANG_COOKIE, Viewer, safe_next};
use super::{Form, Layout, ok, render};
use crate::AppState;
use crate::extract::{Ctx, SESSION_COOKIE, cookie_in};
use crate::routes::auth::session_cookie;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_app::accounts;
use guichet_app::auth::{self, LoginView};
use guichet_app::{AppError, ErrorKind, factors, security};
use guichet_domain::Language;
use guichet_domain::account::{PostalAddress, ProfilePatch, SignupInput};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/second-factor", post(second_factor))
        .route("/login/sms", post(login_sms))
        .route("/logout", post(logout))
        .route("/signup", get(signup_page).post(signup))
        .route("/verify-email", get(verify_page).post(verify))
        .route("/verify-email/resend", post(resend))
        .route("/forgot-password", get(forgot_page).post(forgot))
        .route("/reset-password", get(reset_page).post(reset))
        .route(
            "/factor-recovery/start",
            get(recovery_start_page).post(recovery_start),
        )
        .route(
            "/factor-recovery",
            get(recovery_page).post(recovery_confirm),
        )
        .route(
            "/factor-recovery/cancel",
            get(recovery_cancel_page).post(recovery_cancel),
        )
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    form: Form,
    next: String,
    unverified: bool,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    l: Layout,
    form: Form,
    next: String,
    challenge: String,
    sms: bool,
    sms_sent: bool,
}

async fn login_page(State(s): State<AppState>, g: Guest, Query(q): Query<NextQuery>) -> Response {
    ok(&LoginPage {
        l: Layout::guest(&g, &s, "login-title"),
        form: Form::new(),
        next: safe_next(&q.next),
        unverified: false,
    })
}

fn signed_in(s: &AppState, view: &LoginView, next: &str) -> Response {
    let mut resp = see_other(&safe_next(next));
    if let Some(t) = view.token.as_deref() {
        resp.headers_mut().insert(
            header::SET_COOKIE,
            session_cookie(s, t, s.app.config.session_absolute_secs),
        );
    }
    resp
}

fn after_login(s: &AppState, g: &Guest, view: LoginView, next: &str) -> Response {
    if view.status == "mfa_required" {
        return ok(&SecondFactorPage {
            l: Layout::guest(g, s, "mfa-title"),
            form: Form::new(),
            next: safe_next(next),
            sms: view.methods.iter().any(|m| m == "sms"),
            challenge: view.challenge.unwrap_or_default(),
            sms_sent: false,
        });
    }
    signed_in(s, &view, next)
}

fn failed_status(e: &AppError) -> StatusCode {
    crate::error::status_of(e.kind)
}

async fn login(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    let next = f.get("next").to_owned();
    match auth::login(&s.app, f.get("email"), f.get("password"), &ctx).await {
        Ok(view) => Ok(after_login(&s, &g, view, &next)),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &LoginPage {
                l: Layout::guest(&g, &s, "login-title"),
                unverified: e.code == "email_not_verified",
                form: Form::from_fields(&f).fail(&g.tr, &e, &["email"]),
                next: safe_next(&next),
            },
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

async fn second_factor(
    State(s): State<AppState>,
    g: Guest,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    g.check(&f)?;
    let next = f.get("next").to_owned();
    let challenge = f.get("challenge").to_owned();
    match factors::login_second_factor(&s.app, &challenge, f.get("code").trim(), &ctx).await {
        Ok(view) => Ok(signed_in(&s, &view, &next)),
        Err(e) if e.kind != ErrorKind::Internal => {
            let restart = e.code == "invalid_challenge";
            if restart {
                return Ok(see_other("/login?done=challenge_expired"));
            }
            Ok(render(
                failed_status(&e),
                &SecondFactorPage {
                    l: Layout::guest(&g, &s, "mfa-title"),
                    form: Form::new().fail(&g.tr, &e, &["code"]),
                    next: safe_next(&next),
                    sms: f.get("sms") == "1",
                    challenge,
                    sms_sent: false,
                },
            ))
        }
        Err(e) => Err(e).lang(g.tr),
    }
}

async fn login_sms(State(s): State<AppState>, g: Guest, f: Fields) -> PanelResult {
    g.check(&f)?;
    let challenge = f.get("challenge").to_owned();
    let sent = factors::send_login_sms(&s.app, &challenge).await;
    let mut form = Form::new();
    if let Err(e) = &sent {
        form = form.fail(&g.tr, e, &[]);
    }
    Ok(ok(&SecondFactorPage {
        l: Layout::guest(&g, &s, "mfa-title"),
        form,
        next: safe_next(f.get("next")),
        sms: true,
        challenge,
        sms_sent: sent.is_ok(),
    }))
}

async fn logout(State(s): State<AppState>, v: Viewer, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    v.check(&f)?;
    auth::logout(&s.app, &v.p, &ctx).await.lang(v.tr)?;
    let mut resp = see_other("/login?done=logged_out");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&s, "", 0));
    Ok(resp)
}

/// Countries offered first on the sign-up form (any ISO code is accepted).
const COUNTRIES: [&str; 12] = [
    "FR", "BE", "CH", "LU", "DE", "ES", "IT", "NL", "PT", "GB", "US", "CA",
];

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    l: Layout,
    form: Form,
    countries: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    l: Layout,
    heading: String,
    text: String,
    link: Option<(String, String)>,
}

fn countries(tr: &super::i18n::Tr) -> Vec<(&'static str, String)> {
    COUNTRIES
        .iter()
        .map(|c| (*c, tr.code("country", &c.to_ascii_lowercase())))
        .collect()
}

async fn signup_page(State(s): State<AppState>, g: Guest) -> Response {
    let form = Form::new()
        .with("country", "FR")
        .with("kind", "individual")
        .with("language", g.tr.lang_code());
    ok(&SignupPage {
        l: Layout::guest(&g, &s, "signup-title"),
        countries: countries(&g.tr),
        form,
    })
}

const SIGNUP_FIELDS: [&str; 13] = [
    "email",
    "password",
    "first_name",
    "last_name",
    "country",
    "language",
    "kind",
    "organisation",
    "vat_number",
    "address_line1",
    "postal_code",
    "city",
    "region",
];

async fn signup(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    let input = SignupInput {
        email: f.get("email").trim().to_owned(),
        password: f.get("password").to_owned(),
        first_name: f.get("first_name").to_owned(),
        last_name: f.get("last_name").to_owned(),
        country: f.get("country").trim().to_ascii_uppercase(),
        language: f.opt("language"),
        kind: f.opt("kind"),
        organisation: f.opt("organisation"),
        vat_number: f.opt("vat_number"),
        phone: None,
        address: PostalAddress {
            line1: f.opt("address_line1"),
            line2: f.opt("address_line2"),
            postal_code: f.opt("postal_code"),
            city: f.opt("city"),
            region: f.opt("region"),
        },
    };
    match accounts::signup(&s.app, &input, &ctx).await {
        Ok(view) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "signup-done-title"),
            heading: g.tr.t("signup-done-title").to_owned(),
            text: g.tr.t1("signup-done-text", "email", &view.email),
            link: Some(("/login".into(), g.tr.t("login-title").to_owned())),
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &SignupPage {
                l: Layout::guest(&g, &s, "signup-title"),
                countries: countries(&g.tr),
                form: Form::from_fields(&f).fail(&g.tr, &e, &SIGNUP_FIELDS),
            },
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

#[derive(Template)]
#[template(path = "token_form.html")]
struct TokenPage {
    l: Layout,
    form: Form,
    action: &'static str,
    intro: String,
    button: String,
    token: String,
    password: bool,
    /// A field for the code texted to the phone (recovery of a lost second factor).
    sms_code: bool,
}

async fn verify_page(State(s): State<AppState>, g: Guest, Query(q): Query<NextQuery>) -> Response {
    ok(&TokenPage {
        l: Layout::guest(&g, &s, "verify-title"),
        form: Form::new(),
        action: "/verify-email",
        intro: g.tr.t("verify-intro").to_owned(),
        button: g.tr.t("verify-button").to_owned(),
        token: q.token,
        password: false,
        sms_code: false,
    })
}

async fn verify(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    match accounts::verify_email(&s.app, f.get("token").trim(), &ctx).await {
        Ok(v) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "verify-title"),
            heading: g.tr.code("verified", &v.result),
            text: v.email,
            link: Some(("/login".into(), g.tr.t("login-title").to_owned())),
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &TokenPage {
                l: Layout::guest(&g, &s, "verify-title"),
                form: Form::new().fail(&g.tr, &e, &[]),
                action: "/verify-email",
                intro: g.tr.t("verify-intro").to_owned(),
                button: g.tr.t("verify-button").to_owned(),
                token: f.get("token").to_owned(),
                password: false,
                sms_code: false,
            },
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

async fn resend(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    match accounts::resend_verification(&s.app, f.get("email").trim(), &ctx).await {
        Ok(()) => Ok(see_other("/login?done=verification_sent")),
        Err(e) => Ok(render(
            failed_status(&e),
            &LoginPage {
                l: Layout::guest(&g, &s, "login-title"),
                form: Form::from_fields(&f).fail(&g.tr, &e, &["email"]),
                next: "/dashboard".into(),
                unverified: true,
            },
        )),
    }
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    l: Layout,
    form: Form,
}

async fn forgot_page(State(s): State<AppState>, g: Guest) -> Response {
    ok(&ForgotPage {
        l: Layout::guest(&g, &s, "forgot-title"),
        form: Form::new(),
    })
}

async fn forgot(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    match security::request_password_reset(&s.app, f.get("email").trim(), &ctx).await {
        Ok(()) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "forgot-title"),
            heading: g.tr.t("forgot-sent-title").to_owned(),
            text: g.tr.t("forgot-sent-text").to_owned(),
            link: Some(("/login".into(), g.tr.t("login-title").to_owned())),
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &ForgotPage {
                l: Layout::guest(&g, &s, "forgot-title"),
                form: Form::from_fields(&f).fail(&g.tr, &e, &["email"]),
            },
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

fn reset_form(s: &AppState, g: &Guest, form: Form, token: String) -> TokenPage {
    TokenPage {
        l: Layout::guest(g, s, "reset-title"),
        form,
        action: "/reset-password",
        intro: g.tr.t("reset-intro").to_owned(),
        button: g.tr.t("reset-button").to_owned(),
        token,
        password: true,
        sms_code: false,
    }
}

#[derive(Template)]
#[template(path = "recovery_start.html")]
struct RecoveryStartPage {
    l: Layout,
    form: Form,
}

async fn recovery_start_page(State(s): State<AppState>, g: Guest) -> Response {
    ok(&RecoveryStartPage {
        l: Layout::guest(&g, &s, "recovery-title"),
        form: Form::new(),
    })
}

/// Lost the second factor: the password proves the holder; a link goes to the verified
/// backup address and a code to the verified phone.
async fn recovery_start(
    State(s): State<AppState>,
    g: Guest,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    g.check(&f)?;
    match guichet_app::recovery::request(&s.app, f.get("email").trim(), f.get("password"), &ctx)
        .await
    {
        Ok(()) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "recovery-title"),
            heading: g.tr.t("recovery-sent-title").to_owned(),
            text: g.tr.t("recovery-sent-text").to_owned(),
            link: None,
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &RecoveryStartPage {
                l: Layout::guest(&g, &s, "recovery-title"),
                form: Form::from_fields(&f).fail(&g.tr, &e, &["email", "password"]),
            },
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

/// The link mailed to the backup address when the second factor is lost: the mailed token
/// and the code texted to the phone schedule the factor's removal (72 hours later).
fn recovery_form(s: &AppState, g: &Guest, form: Form, token: String) -> TokenPage {
    TokenPage {
        l: Layout::guest(g, s, "recovery-title"),
        form,
        action: "/factor-recovery",
        intro: g.tr.t("recovery-intro").to_owned(),
        button: g.tr.t("recovery-button").to_owned(),
        token,
        password: false,
        sms_code: true,
    }
}

async fn recovery_page(
    State(s): State<AppState>,
    g: Guest,
    Query(q): Query<NextQuery>,
) -> Response {
    ok(&recovery_form(&s, &g, Form::new(), q.token))
}

async fn recovery_confirm(
    State(s): State<AppState>,
    g: Guest,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    g.check(&f)?;
    let token = f.get("token").trim().to_owned();
    match guichet_app::recovery::confirm(&s.app, &token, f.get("code").trim(), &ctx).await {
        Ok(r) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "recovery-title"),
            heading: g.tr.t("recovery-scheduled-title").to_owned(),
            text: g.tr.t1(
                "recovery-scheduled-text",
                "date",
                &g.tr.datetime(&r.effective_at),
            ),
            link: Some(("/login".into(), g.tr.t("login-title").to_owned())),
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &recovery_form(&s, &g, Form::new().fail(&g.tr, &e, &["code"]), token),
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

/// The link of the notice sent to both addresses: stop a recovery the holder did not ask for.
fn recovery_cancel_form(s: &AppState, g: &Guest, form: Form, token: String) -> TokenPage {
    TokenPage {
        l: Layout::guest(g, s, "recovery-cancel-title"),
        form,
        action: "/factor-recovery/cancel",
        intro: g.tr.t("recovery-cancel-intro").to_owned(),
        button: g.tr.t("recovery-cancel-button").to_owned(),
        token,
        password: false,
        sms_code: false,
    }
}

async fn recovery_cancel_page(
    State(s): State<AppState>,
    g: Guest,
    Query(q): Query<NextQuery>,
) -> Response {
    ok(&recovery_cancel_form(&s, &g, Form::new(), q.token))
}

async fn recovery_cancel(
    State(s): State<AppState>,
    g: Guest,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    g.check(&f)?;
    let token = f.get("token").trim().to_owned();
    match guichet_app::recovery::cancel_by_token(&s.app, &token, &ctx).await {
        Ok(()) => Ok(ok(&MessagePage {
            l: Layout::guest(&g, &s, "recovery-cancel-title"),
            heading: g.tr.t("recovery-cancelled-title").to_owned(),
            text: g.tr.t("recovery-cancelled-text").to_owned(),
            link: Some(("/login".into(), g.tr.t("login-title").to_owned())),
        })),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &recovery_cancel_form(&s, &g, Form::new().fail(&g.tr, &e, &[]), token),
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

async fn reset_page(State(s): State<AppState>, g: Guest, Query(q): Query<NextQuery>) -> Response {
    ok(&reset_form(&s, &g, Form::new(), q.token))
}

async fn reset(State(s): State<AppState>, g: Guest, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    g.check(&f)?;
    let token = f.get("token").trim().to_owned();
    match security::confirm_password_reset(&s.app, &token, f.get("password"), &ctx).await {
        Ok(()) => Ok(see_other("/login?done=password_reset")),
        Err(e) if e.kind != ErrorKind::Internal => Ok(render(
            failed_status(&e),
            &reset_form(&s, &g, Form::new().fail(&g.tr, &e, &["password"]), token),
        )),
        Err(e) => Err(e).lang(g.tr),
    }
}

/// Switch the language: a cookie for guests, and the account's language when signed in.
pub async fn switch_language(
    State(s): State<AppState>,
    g: Guest,
    headers: HeaderMap,
    f: Fields,
) -> PanelResult {
    let lang = Language::parse(f.get("lang")).unwrap_or_default();
    let back = safe_next(f.get("back"));
    // The form carries the token of whoever rendered it: the session's or the guest's.
    if let Some(token) = cookie_in(&headers, SESSION_COOKIE).filter(|t| !t.is_empty())
        && let Ok(p) = auth::authenticate(&s.app, token).await
    {
        if !guichet_app::crypto::ct_eq(
            f.get(super::session::CSRF_FIELD),
            &super::session::session_csrf(token),
        ) {
            return Err(super::error::PanelError::Csrf(g.tr));
        }
        g.check_origin()?;
        let patch = ProfilePatch {
            language: Some(lang.as_str().to_owned()),
            ..ProfilePatch::default()
        };
        accounts::update_profile(&s.app, &p.account_id, &patch)
            .await
            .lang(g.tr)?;
    } else {
        g.check(&f)?;
    }
    let mut resp = see_other(&back);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.as_str()
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
